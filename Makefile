# The README's two commands are `make demo` and `make test`. Both work on a fresh machine with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Demo on embedded defaults: SQLite in var/, embedded Redis, the sandbox, web, Celery worker and beat. Ctrl-C stops all.
demo: $(STAMP)
	DJANGO_DEBUG=true $(BIN)/python manage.py demo_setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --procfile Procfile.demo --env var/demo.env start

## The whole test suite, browser tests included; uses DATABASE_URL/REDIS_URL when set, embedded defaults otherwise.
test: $(STAMP)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); } || { echo "Debian's chromium is needed for the browser tests: apt-get install -y chromium"; exit 1; }
	$(BIN)/pytest $(PYTEST_ARGS)

## Refresh the lock (constraints.txt) from a clean resolve of pyproject.toml's ranges.
lock:
	rm -rf /tmp/proctordash-lock && $(PYTHON) -m venv /tmp/proctordash-lock
	/tmp/proctordash-lock/bin/pip install --quiet -e ".[test]"
	/tmp/proctordash-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var

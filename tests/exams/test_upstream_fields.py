"""No 500 from upstream data (issue 17, item 6): the views that render a configuration, fed every kind of value in
every field by a stand-in upstream over HTTP (a small server on loopback that answers whatever JSON the test sets,
because the sandbox only ever serves well-formed data): wrong types, markup and spreadsheet formulas, very long or
non-ASCII text, SIDs holding "/" or "..", nulls, nested objects. The page answers 200 (or 404 for an answer that
names another exam), escapes everything, and a save, the cached-copy page and the accommodation register survive
the same data."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings, strategies as st

from proctordash.exams import fields as F_
from tests.exams.conftest import form_data

pytestmark = pytest.mark.django_db

COURSE = "CU" + "c" * 32
EXAM = "EX" + "e" * 32
CONFIG = "EC" + "f" * 32
URL = f"/courses/{COURSE}/exams/{EXAM}/configurations/{CONFIG}/"
SCRIPT = "<script>alert('x')</script>"


class StandIn:
    """Answers GET/PUT of one configuration path with `self.body` (PUT: the request body, as the upstream echoes
    the object it stored), or `self.status` when set."""

    def __init__(self):
        self.body: object = {}
        self.status = 200
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, payload):
                data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._answer(stand_in.body if stand_in.status == 200 else {"statusCode": stand_in.status})

            def do_PUT(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                sent = json.loads(self.rfile.read(length) or b"{}")
                stand_in.last_put = sent
                self._answer({**stand_in.body, **sent} if isinstance(stand_in.body, dict) else sent)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stand_in():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def upstream(stand_in, settings):
    settings.SMARTERPROCTORING_BASE_URL = stand_in.url
    settings.UPSTREAM_RETRIES = 0
    stand_in.status = 200
    return stand_in


NASTY_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from([SCRIPT, "=HYPERLINK(\"http://x\",\"y\")", "+SUM(A1)", "@SUM(1)", "a/b/../c", "EC/../../x",
                     "x" * 3000, "名前\u202eevil", "\x00nul", "line\r\nbreak", "%s%n", "{{ 7*7 }}", "{% debug %}"]),
)
ANY_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=False, allow_infinity=False),
              NASTY_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3), max_leaves=6)
SIDISH = st.one_of(st.none(), NASTY_TEXT, st.sampled_from(
    ["EC" + "a" * 32, "EN" + "b" * 32, "EC" + "a" * 31 + "/", "EN/../..", "EC" + "A" * 32, "", "EN" + "b" * 300]))
VALID_DATE = st.one_of(st.none(), st.sampled_from(
    ["2031-01-05T10:00:00.000Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2031-01-05T10:00:00+05:00",
     "2031-11-02T06:30:00Z", "2031-11-02T07:30:00.999Z"]),
    st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds") + "Z"))
DATEISH = st.one_of(st.none(), NASTY_TEXT, st.sampled_from(
    ["2031-01-05T10:00:00.000Z", "2031-13-45T99:99:99Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "yesterday",
     "2031-01-05T10:00:00+05:00", 1700000000]))


SLOTISH = st.fixed_dictionaries({}, optional={
    "location": NASTY_TEXT, "timeType": st.one_of(NASTY_TEXT, st.just("between")), "startTime": VALID_DATE | DATEISH,
    "endTime": VALID_DATE | DATEISH, "capacity": st.one_of(st.integers(-3, 10 ** 6), NASTY_TEXT, st.none()), "sid": SIDISH})


def typed(field):
    """A value of the field's documented type, as nasty as that type allows."""
    if field.kind == "date":
        return VALID_DATE
    if field.kind == "int":
        return st.one_of(st.none(), st.integers(-(2 ** 40), 2 ** 40))
    if field.kind == "bool":
        return st.one_of(st.none(), st.booleans())
    if field.kind in ("text", "password"):
        return st.one_of(st.none(), NASTY_TEXT)
    if field.kind == "sids":
        return st.one_of(st.none(), st.lists(st.one_of(SIDISH, st.just("TS" + "1" * 32)), max_size=3))
    if field.kind == "slots":
        return st.one_of(st.none(), st.lists(SLOTISH, max_size=2))
    if field.kind == "attachments":
        return st.one_of(st.none(), st.lists(st.fixed_dictionaries({}, optional={
            "attachmentUrl": NASTY_TEXT, "attachmentAwsTitle": NASTY_TEXT}), max_size=6))
    return st.one_of(st.none(), st.dictionaries(NASTY_TEXT, ANY_JSON, max_size=4))


@st.composite
def upstream_configuration(draw):
    raw: dict = {}
    chaos = draw(st.integers(0, 4)) == 0  # one in five: any JSON anywhere (the client may refuse the record)
    for field in F_.FIELDS:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing field
        raw[field.key] = draw(ANY_JSON if chaos and draw(st.booleans()) else typed(field))
    raw["sid"] = draw(st.sampled_from([CONFIG] * 10 + [None, "EC/../x", 7]))
    raw["examSid"] = draw(st.sampled_from([EXAM] * 10 + [None, "", "EX" + "0" * 32]))
    raw["enrollmentSid"] = draw(SIDISH)
    raw["referenceExamConfigurationSid"] = draw(SIDISH)
    raw["locked"] = draw(st.one_of(st.booleans(), st.none(), NASTY_TEXT) if chaos else st.sampled_from(
        [False, False, False, None, True]))
    raw["approved"] = draw(st.one_of(st.booleans(), st.none(), NASTY_TEXT) if chaos else st.one_of(
        st.booleans(), st.none()))
    raw["approvedBy"] = draw(st.one_of(st.none(), NASTY_TEXT))
    raw["editDate"] = draw(DATEISH if chaos else VALID_DATE)
    raw["examSyncStatus"] = draw(st.one_of(st.none(), NASTY_TEXT))
    for key in draw(st.lists(NASTY_TEXT, max_size=2)):
        raw.setdefault(key, draw(ANY_JSON))
    return raw


def ok_page(response) -> str:
    assert response.status_code in (200, 302, 404), response.status_code
    html = response.content.decode()
    assert SCRIPT not in html  # markup from the upstream is escaped wherever it lands
    return html


@hsettings(max_examples=int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", "60")), deadline=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                  HealthCheck.data_too_large])
@given(raw=upstream_configuration())
def test_any_upstream_configuration_renders_saves_and_falls_back_without_a_500(client_for, coordinator, upstream,
                                                                               raw):
    from proctordash.exams.models import CachedConfiguration, ConfigurationChange, ConfigurationSave

    CachedConfiguration.objects.all().delete()
    ConfigurationChange.objects.all().delete()
    ConfigurationSave.objects.all().delete()
    client = client_for(coordinator)
    upstream.status, upstream.body = 200, raw
    html = ok_page(client.get(URL))
    event("live page: " + ("editable" if "Save configuration" in html else "unavailable (record refused)"
                           if 'data-testid="unavailable"' in html else "not found" if "not-found" in html
                           else "locked" if 'data-testid="locked"' in html else "read-only"))
    if 'id="config-form-el"' in html and "Save configuration" in html:
        data = form_data(html)
        data["duration"] = "77"
        data["confirm_near_open"] = "yes"
        ok_page(client.post(URL, data))
        ok_page(client.post(URL, data, HTTP_HX_REQUEST="true"))
    upstream.status = 503  # down: the cached copy (if any was stored) is what the page shows
    ok_page(client.get(URL))
    ok_page(client.get(f"/courses/{COURSE}/exams/accommodations/"))


def test_a_reference_sid_with_a_slash_is_shown_as_text_not_a_link(client_for, coordinator, upstream):
    upstream.status, upstream.body = 200, {"sid": CONFIG, "examSid": EXAM, "enrollmentSid": "EN" + "1" * 32,
                                           "referenceExamConfigurationSid": "EC/../../admin", "duration": 60}
    response = client_for(coordinator).get(URL)
    html = ok_page(response)
    assert response.status_code == 200 and 'data-testid="odd-reference"' in html and "EC/../../admin" in html
    assert 'href="/courses/' + COURSE + '/exams/' + EXAM + '/configurations/EC/' not in html


def test_an_answer_naming_another_exam_is_not_shown(client_for, coordinator, upstream):
    upstream.status, upstream.body = 200, {"sid": CONFIG, "examSid": "EX" + "0" * 32, "duration": 60}
    response = client_for(coordinator).get(URL)
    assert response.status_code == 404 and 'data-testid="not-found"' in response.content.decode()


def test_a_configuration_the_upstream_does_not_know_is_a_404_page_with_a_message(client_for, coordinator, upstream):
    upstream.status, upstream.body = 404, {}
    client = client_for(coordinator)
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 404 and "SmarterProctoring does not know this exam configuration" in html
    # and a save of a form opened before it was deleted upstream
    upstream.status, upstream.body = 200, {"sid": CONFIG, "examSid": EXAM, "duration": 60, "attempts": 1}
    data = form_data(client.get(URL).content.decode())
    data["duration"] = "61"
    upstream.status = 404
    response = client.post(URL, data)
    assert response.status_code == 404 and "Nothing was sent" in response.content.decode()

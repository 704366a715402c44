"""gunicorn settings for ProctorDash's web processes: `gunicorn -c deploy/gunicorn.conf.py proctordash.wsgi:application`.

With PROMETHEUS_MULTIPROC_DIR set (the systemd unit does), each worker writes its request metrics to files there and
/metrics adds them up; the directory is emptied when gunicorn starts and a dead worker's files are marked, as
prometheus-client's multiprocess mode requires. Logging: the dashboard writes one JSON line per request itself
(proctordash.request), so gunicorn's access log is off; its error log goes to stderr.
"""

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 60
accesslog = None
errorlog = "-"


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

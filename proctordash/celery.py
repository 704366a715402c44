"""The Celery application: broker and result backend are the Redis named by REDIS_URL (or the embedded one).

This module imports no app at load time (the apps import it, e.g. the health page pings workers through `app`); the
beat start-up hook imports the sync app when it fires.
"""

import logging
import os

from celery import Celery
from celery.signals import before_task_publish, beat_init, setup_logging, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctordash.settings")

app = Celery("proctordash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@setup_logging.connect
def _use_the_projects_logging(**kwargs):
    """Workers and beat log like the web processes (JSON in production, secrets redacted, request ids) instead of
    Celery replacing the root logger's handlers with its own (proctordash/core/logs.py)."""
    from django.conf import settings

    from proctordash.core.logs import configure

    configure(settings.LOGGING)


# The request id of the web request (or task) that sends a task travels with it and is current while it runs.
def _connect_request_ids():
    from proctordash.core import logs

    before_task_publish.connect(logs.celery_before_publish, weak=False)
    task_prerun.connect(logs.celery_task_prerun, weak=False)
    task_postrun.connect(logs.celery_task_postrun, weak=False)


_connect_request_ids()


@beat_init.connect
def _refresh_stale_data_when_beat_starts(sender=None, **kwargs):
    # retried in a thread until the database and the broker answer (they may still be starting)
    from proctordash.sync.startup import start_refresh_when_ready

    start_refresh_when_ready()

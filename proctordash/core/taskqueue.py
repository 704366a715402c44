"""Sending a Celery task from a web request (or any caller that does not read the task's result).

`send_task` sends by name and asks for no result (`ignore_result`): Celery's Redis result backend otherwise subscribes
the sender to the task's result channel on every send, and with Redis down or hanging that subscription retries for
~20 s before it raises ("the Celery application must be restarted"), holding the request that asked. The broker's own
timeouts (settings: CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_BROKER_CONNECTION_TIMEOUT,
CELERY_TASK_PUBLISH_RETRY_POLICY) bound the send itself to a few seconds; the caller records the work first and says
so when the send fails (the sweep or the page's poll sends it again).
"""

from __future__ import annotations


def send_task(name: str, *, args: list | tuple = (), kwargs: dict | None = None, app=None) -> str:
    """Queue task `name`; returns its id. Raises what the broker raised (kombu's OperationalError, a Redis error) —
    after seconds, not minutes. `app`: the Celery app (default: the current one)."""
    if app is None:
        from celery import current_app as app
    return app.send_task(name, args=list(args), kwargs=kwargs or {}, ignore_result=True).id

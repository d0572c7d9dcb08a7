"""Publishing Celery tasks so that a dead broker never fails or blocks a request."""

import logging
import threading
import time

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task, *args, countdown: float | None = None, **kwargs) -> bool:
    """Send ``task`` now; on a broker error log it and return False (a sweep catches up).

    ``task`` may be a registered task's name: promotions publishes the redemption side's tasks
    by name, since it never imports ``redemptions``.
    """
    if isinstance(task, str):
        task = current_app.tasks[task]
    if task.app.conf.task_always_eager:  # in-process mode: errors are the caller's to see
        task.apply_async(args=args, kwargs=kwargs)
        return True
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False, countdown=countdown)
    except Exception:  # kombu raises many kinds (OperationalError, ConnectionError, timeouts)
        logger.warning("broker unavailable; %s left for the sweep", task.name, exc_info=True)
        return False
    return True


def publish_on_commit(task, *args, **kwargs) -> None:
    """Send ``task`` once the surrounding transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: publish(task, *args, **kwargs))


# id(task) -> monotonic time until which a coalesced run already published will still start after
# any commit made now.
_pending: dict = {}
_pending_lock = threading.Lock()
# A run starts `window` seconds after it was published; commits within this share of the window
# join it. The rest of the window absorbs clock differences between this host and the worker's.
_JOIN_SHARE = 0.8


def publish_coalesced_on_commit(task, *args, window: float) -> None:
    """``publish_on_commit`` for a task whose run takes along everything waiting when it starts.

    Attribution is such a task: a run attributes its redemption and every other one still
    unattributed. So a burst of commits needs one message, not one each: the first commit
    publishes a run delayed by ``window`` seconds, and the commits that follow within the window
    are already committed when that run starts, so it finds them. Costs at most ``window`` of
    latency; saves a broker round trip and a task per request under load. Should a run still
    miss one (a lost message, a skewed clock), the periodic sweep attributes it: nothing is lost.
    """
    transaction.on_commit(lambda: _publish_coalesced(task, args, window))


def _publish_coalesced(task, args, window: float) -> None:
    # Checked first, since most commits under load end here: reading the task's name or its
    # app's settings through Celery's task proxy cost more than the rest of this function.
    now, key = time.monotonic(), id(task)  # a task proxy hashes through to the task: slow
    if now < _pending.get(key, 0.0):
        return
    if window <= 0 or task.app.conf.task_always_eager:
        publish(task, *args)
        return
    with _pending_lock:
        if now < _pending.get(key, 0.0):
            return
        _pending[key] = now + window * _JOIN_SHARE
    if not publish(task, *args, countdown=window):
        forget_pending()  # nothing is on its way: the next commit tries the broker again


def forget_pending() -> None:
    """Drop what this process believes is on its way (after a broker error or a purge)."""
    with _pending_lock:
        _pending.clear()

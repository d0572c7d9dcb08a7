"""Publishing Celery tasks so that a dead broker never fails or blocks a request."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task, *args, **kwargs) -> bool:
    """Send ``task`` now; on a broker error log it and return False (a sweep catches up).

    ``task`` may be a registered task's name: promotions publishes the redemption side's tasks
    by name, since it never imports ``redemptions``.
    """
    if isinstance(task, str):
        from config.celery import app

        task = app.tasks[task]
    if task.app.conf.task_always_eager:  # in-process mode: errors are the caller's to see
        task.apply_async(args=args, kwargs=kwargs)
        return True
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception:  # kombu raises many kinds (OperationalError, ConnectionError, timeouts)
        logger.warning("broker unavailable; %s left for the sweep", task.name, exc_info=True)
        return False
    return True


def publish_on_commit(task, *args, **kwargs) -> None:
    """Send ``task`` once the surrounding transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: publish(task, *args, **kwargs))

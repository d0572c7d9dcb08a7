import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_process_init,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promotions")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _fresh_database_pool(**kwargs):
    """A forked pool child must not share the parent's sockets or connection-pool threads."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if hasattr(connection, "close_pool"):
            connection.close_pool()
        connection.close()


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    from core.observability import request_id_var

    if headers is not None and request_id_var.get():
        headers["request_id"] = request_id_var.get()


_task_tokens: dict = {}


@task_prerun.connect
def _adopt_request_id(task_id=None, task=None, **kwargs):
    from core.observability import request_id_var

    request_id = getattr(task.request, "request_id", None) or (task.request.headers or {}).get(
        "request_id", ""
    )
    _task_tokens[task_id] = request_id_var.set(request_id or f"task-{task_id}")


@task_postrun.connect
def _drop_request_id(task_id=None, **kwargs):
    from core.observability import request_id_var

    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


def _count(outcome):
    def handler(sender=None, **kwargs):
        from core.observability import TASKS

        TASKS.labels(getattr(sender, "name", str(sender)), outcome).inc()

    return handler


_on_success, _on_failure, _on_retry = _count("success"), _count("failure"), _count("retry")
task_success.connect(_on_success, weak=False)
task_failure.connect(_on_failure, weak=False)
task_retry.connect(_on_retry, weak=False)

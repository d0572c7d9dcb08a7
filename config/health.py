"""Liveness, readiness (database, broker, migrations) and the Prometheus endpoint."""

import os

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from core.observability import QUEUE_DEPTH, metrics_allowed
from core.problems import Problem, problem_response


def live(request):
    return JsonResponse({"status": "ok"})


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok", "vendor": connection.vendor}


def _migrations() -> dict:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return {"status": "error", "pending": [f"{m.app_label}.{m.name}" for m, _ in pending]}
    return {"status": "ok"}


def _broker() -> dict:
    from config.celery import app

    if app.conf.task_always_eager:
        return {"status": "ok", "mode": "in-process"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
        client = getattr(conn.default_channel, "client", None)
        if client is not None:  # Redis connects lazily: ask it for real
            client.ping()
    return {"status": "ok"}


CHECKS = {"database": _database, "migrations": _migrations, "broker": _broker}


def ready(request):
    results, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a check reports any failure; it must never raise
            results[name] = {"status": "error", "error": type(exc).__name__}
        healthy = healthy and results[name]["status"] == "ok"
        if name == "database" and not healthy:
            results["migrations"] = {"status": "error", "error": "database unavailable"}
            break
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503
    )


def _queue_depth() -> None:
    from config.celery import app

    if app.conf.task_always_eager:
        return
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            client = conn.default_channel.client
            QUEUE_DEPTH.labels("celery").set(client.llen("celery"))
    except Exception:  # noqa: S110 (the gauge keeps its last value; /health/ready reports the outage)
        pass


def metrics(request):
    if not metrics_allowed(request):
        return problem_response(Problem(404, "not_found", "No such resource."))
    _queue_depth()
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

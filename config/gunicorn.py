"""Production WSGI server settings; every knob can be overridden from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")  # or fd://N
# Never share the port with another server (SO_REUSEPORT): a second one must fail to bind rather
# than take every other connection.
reuse_port = False
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "25"))
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG", None)
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = 100 if max_requests else 0
# gunicorn 24+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl), whichever
# server started last; WEB_CONTROL_SOCKET moves it, or turns it off (`off`, as make run does).
if os.environ.get("WEB_CONTROL_SOCKET") == "off":
    control_socket_disable = True
elif os.environ.get("WEB_CONTROL_SOCKET"):
    control_socket = os.environ["WEB_CONTROL_SOCKET"]


def child_exit(server, worker):
    """Prometheus multiprocess mode: forget a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

"""What more than one test module uses: plain functions and constants, no fixtures (those live in
a conftest.py). A test module imports its helpers from here, never from another test module.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connections

from config.celery import app as celery_app
from core.publish import forget_pending
from promotions.models import Touchpoint

REDEEM = "/api/v1/pos/generic/redemptions"
VALIDATE = "/api/v1/pos/generic/validate"


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)


def assert_one_touch(kind, placement, customer_ref, click_id):
    touch = Touchpoint.objects.get()
    assert (touch.kind, touch.placement_id, touch.customer_ref, touch.click_id) == (
        kind,
        placement.id,
        customer_ref,
        click_id,
    )


def redeem(client, code, store, txn="T-1", basket="10.00", key=None, **extra):
    """A till's redeem through the generic adapter; ``code`` is a Code or the string typed."""
    body = {
        "code": code if isinstance(code, str) else code.code,
        "store_id": store.external_id,
        "transaction_id": txn,
        "basket_total": basket,
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(REDEEM, body, format="json", **headers)


ROOT = Path(__file__).resolve().parent.parent


_running: dict = {}


def needs_marker(*names: str) -> None:
    """A test that starts a real worker or a service of its own must carry one of ``names``:
    the fast tier (``make test-fast``, tests in parallel) leaves such tests out."""
    markers = _running.get("markers")
    if markers is not None and not markers & set(names):
        raise RuntimeError(
            f"this test starts a real worker or service: mark it {' or '.join(names)}"
        )


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A real ``celery worker`` process against the test database and the test broker."""

    def __init__(self, extra_env=None, concurrency=1, beat=False, broker_url=None):
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.beat = beat
        self.broker_url = broker_url
        self.process = None
        self.log = ROOT / "test-artifacts" / f"worker-{os.getpid()}-{time.time_ns()}.log"

    def start(self):
        needs_marker("broker")
        self.log.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker_url or settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DATABASE_POOL": "false",
            **self.extra_env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{time.time_ns()}@%h",
                *(["-B", "--schedule", str(self.log.with_suffix(".beat"))] if self.beat else []),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if "ready." in self.log.read_text():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start:\n{self.log.read_text()[-3000:]}")

    def children(self) -> list[int]:
        """PIDs of the pool's child processes (where tasks run)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def kill(self, sig=signal.SIGKILL):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def empty_broker(client) -> None:
    """Delete this suite's broker keys: those under its key prefix (CELERY_BROKER_KEY_PREFIX),
    never another checkout's or app's in the same Redis database."""
    prefix = getattr(client, "global_keyprefix", "")
    raw = redis.Redis(connection_pool=client.connection_pool)  # kombu's client prefixes DEL too
    keys = list(raw.scan_iter(match=re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"))
    if keys:
        raw.delete(*keys)


ORIGINAL_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")


def use_broker(url: str | None) -> None:
    """Point this process's publishing at ``url`` (``None``: back to the suite's broker).

    Celery reads CELERY_BROKER_URL from the environment before its own configuration, and
    kombu's connection pools are global: both are reset here.
    """
    from kombu import pools

    url = url or ORIGINAL_BROKER_URL
    forget_pending()
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def free_port() -> int:
    """A TCP port no process on this machine listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A Redis of the test's own, so it can be stopped for real.

    ``port`` is only a wish: if another process (another checkout's suite, say) holds it, the
    first start moves to a free port. A restart keeps the port. Either way the Redis answering
    there must be this server's own process, never someone else's.
    """

    def __init__(self, port: int = 0):
        self.port = port or free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        needs_marker("broker", "outage")
        first = self.process is None
        for _ in range(3):
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.time() + 10
            while time.time() < deadline and self.process.poll() is None:
                if self._answers_itself():
                    return self
                time.sleep(0.1)
            self.stop()
            if not first:
                break
            self.port = free_port()
        raise RuntimeError(f"the test's own redis-server did not start on port {self.port}")

    def _answers_itself(self) -> bool:
        info = subprocess.run(
            ["redis-cli", "-p", str(self.port), "info", "server"], capture_output=True, text=True
        ).stdout
        return f"process_id:{self.process.pid}" in info.split()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _postgres_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: pg_config's answer, else the newest Debian one."""
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        found = ""
    candidates = [Path(found.strip())] if found.strip() else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((d for d in candidates if (d / "initdb").exists()), None)


def close_database_pools() -> None:
    """Close each connection, then its pool: the next query connects afresh, to wherever the
    settings say then (closing in the other order left a new pool, made by ``close()``)."""
    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


class PostgresCluster:
    """A PostgreSQL of the test's own (initdb into a temporary directory, a free port), so it can
    be stopped for real while the machine's shared server, and anyone else's tests on it, carry
    on. initdb and postgres refuse to run as root: as root, they run as the postgres user."""

    def __init__(self):
        needs_marker("outage")
        self.bindir = _postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("no initdb: the outage tests need PostgreSQL's server binaries")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="promotions-pg-"))
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            account = pwd.getpwnam(self.user)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/promotions"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, cwd=self.dir, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)}: {done.stdout}{done.stderr}{log}")

    def create(self):
        """initdb, start, and a database named as in ``url`` with the project's migrations."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        self.start()
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "promotions"
        )
        env = {**os.environ, "DATABASE_URL": self.url, "DATABASE_POOL": "false"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        return self

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast"):
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def ready(self) -> bool:
        command = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(command).returncode == 0

    def destroy(self):
        """Stop it whatever its state (killing its postmaster if need be) and delete its files."""
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                with contextlib.suppress(ValueError, OSError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def default_database_at(cluster: PostgresCluster):
    """Point this process's default database connection (and its pool) at ``cluster``."""
    settings_dict = connections["default"].settings_dict
    saved = {key: settings_dict[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")}
    close_database_pools()
    settings_dict.update(
        HOST="127.0.0.1", PORT=cluster.port, NAME="promotions", USER="postgres", PASSWORD=""
    )
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT inet_server_port()")
            assert cursor.fetchone()[0] == cluster.port, "the test's queries went elsewhere"
        yield
    finally:
        close_database_pools()
        settings_dict.update(saved)


def wait_until(predicate, timeout=30.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()

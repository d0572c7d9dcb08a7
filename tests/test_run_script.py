"""`make run` (bin/run) and the configuration check (issue "The first ten minutes", items 3-4).

- a taken port is refused with one line naming it and the way out, before anything starts;
- SIGINT, SIGTERM, SIGHUP and a closed terminal stop every process the run started, free the
  port and remove its run directory (.run/port-N);
- a bad DATABASE_URL, CELERY_BROKER_URL or a missing SECRET_KEY in production is one line naming
  the variable, from manage.py, bin/run, bin/web, the Celery worker and beat.

The runs use SQLite in a temporary file (DATABASE_URL=sqlite:////tmp/...), never db.sqlite3.
Every process a run starts carries a marker in its environment; the tests find them by it in
/proc, and kill whatever is left even when a test fails.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from config import env_check

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
MARKER = "RUN_SCRIPT_TEST_MARKER"
# What the test run sets (make test's database and broker, pytest's own variables) and a
# developer's shell would not.
SCRUB = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "DATABASE_POOL_MAX",
    "PYTEST_VERSION",
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_WORKER",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "METRICS_TOKEN_FILE",
    "DEBUG",
    "PORT",
    "BIND",
    "WEB_SERVER",
    "PUBLIC_BASE_URL",
    "PROMETHEUS_MULTIPROC_DIR",
    "CELERY_BEAT_SCHEDULE_FILE",
    "DJANGO_SETTINGS_MODULE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
}


def clean_env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in SCRUB}
    env.update(extra)
    return env


def port_is_free(port: int) -> bool:
    """Whether a server could listen there now (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def free_port() -> int:
    for port in range(8100, 8200):
        if port_is_free(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def marked(marker: str) -> dict[int, str]:
    """pid -> command line of every live process whose environment carries the marker."""
    found = {}
    needle = f"{MARKER}={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, a zombie, or another user's
            continue
    return found


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def http_status(port: int, path: str = "/health/live") -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


# --- a taken port ---------------------------------------------------------------------------


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "SO_REUSEPORT"])
def test_a_taken_port_is_one_line_naming_it_and_nothing_starts(tmp_path, reuse_port):
    """Another program on the port (with SO_REUSEPORT, as granian and a server of another
    checkout bind): refused before migrating, with the way out."""
    holder = socket.socket()
    if reuse_port:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    db = tmp_path / "demo.sqlite3"
    try:
        done = subprocess.run(
            [PY, "bin/run"],
            cwd=ROOT,
            env=clean_env(PORT=str(port), DATABASE_URL=f"sqlite:///{db}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "PORT=" in lines[0], lines[0]
    assert done.stdout == ""
    assert not db.exists()  # nothing started: not even the migration


def test_a_port_that_is_not_a_number_is_one_line(tmp_path):
    done = subprocess.run(
        [PY, "bin/run"],
        cwd=ROOT,
        env=clean_env(PORT="80OO", DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "PORT=" in done.stderr, done.stderr


# --- signals --------------------------------------------------------------------------------


class Run:
    """`make run` in a session of its own (setsid), or under `script` with a terminal."""

    def __init__(self, tmp_path: Path, db: Path, broker: str | None, terminal: bool):
        self.port = free_port()
        self.marker = uuid.uuid4().hex
        self.log = tmp_path / "run.log"
        env = clean_env(
            PORT=str(self.port),
            DATABASE_URL=f"sqlite:///{db}",
            WEB_CONCURRENCY="2",
            WORKER_CONCURRENCY="1",
            **{MARKER: self.marker},
        )
        if broker:
            env["CELERY_BROKER_URL"] = broker
        command = ["make", "--no-print-directory", "run"]
        if terminal:  # bash -c execs make: make leads the session and alone gets the SIGHUP
            command = ["script", "--quiet", "--flush", "--command", "make run", "/dev/null"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,  # kept open: script would pass an EOF on to make
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, *names: str):
        deadline = time.monotonic() + 240  # a first run migrates the database
        while http_status(self.port) != 200:
            assert self.process.poll() is None, f"make run exited:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"not serving:\n{self.output()[-4000:]}"
            time.sleep(0.5)
        for name in names:  # e.g. the Celery worker is ready and beat is up
            assert wait_until(lambda n=name: n in self.output(), 60), self.output()[-4000:]

    def cleanup(self):
        """Whatever the test left behind: the session, then anything carrying the marker."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        for _ in range(3):
            left = marked(self.marker)
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """One SQLite database for this module's runs: the first one migrates it."""
    return tmp_path_factory.mktemp("run-script") / "demo.sqlite3"


@pytest.fixture
def start_run(tmp_path, demo_db):
    runs = []

    def start(broker: str | None = None, terminal: bool = False) -> Run:
        runs.append(Run(tmp_path, demo_db, broker, terminal))
        return runs[-1]

    yield start
    for run in runs:
        run.cleanup()


def stop_and_check(run: Run, how: str):
    started = marked(run.marker)
    assert any("gunicorn" in cmd or "granian" in cmd for cmd in started.values()), started
    run_dir = ROOT / ".run" / f"port-{run.port}"
    assert (run_dir / "prometheus").is_dir()

    if how == "SIGINT":  # Ctrl-C: the terminal signals the whole foreground process group
        os.killpg(run.process.pid, signal.SIGINT)
    elif how == "SIGTERM":  # kill <pid>: make passes it on to bin/run
        os.kill(run.process.pid, signal.SIGTERM)
    elif how == "SIGHUP":  # the login shell passes a hangup on to its jobs' process groups
        os.killpg(run.process.pid, signal.SIGHUP)
    elif how == "terminal closed":  # the terminal emulator goes away: its pty master closes
        run.process.kill()
    run.process.wait(timeout=60)
    # make waits for bin/run, which waits for everything it started; under `script` make is
    # no child of ours any more, so wait for the marked processes instead.
    assert wait_until(lambda: not marked(run.marker), 60 if how == "terminal closed" else 0)

    left = marked(run.marker)
    assert not left, f"survived {how}: {left}\n{run.output()[-4000:]}"
    assert port_is_free(run.port)
    assert not run_dir.exists()
    return started


@pytest.mark.run
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGHUP", "terminal closed"])
def test_make_run_stops_everything_it_started(start_run, how):
    if how == "terminal closed" and not shutil.which("script"):
        pytest.skip("no `script` (util-linux) to give make run a terminal")
    run = start_run(terminal=how == "terminal closed")
    run.wait_serving()
    if how == "SIGTERM":
        # No server can share the port, not even one asking for SO_REUSEPORT (as granian does).
        with socket.socket() as other, pytest.raises(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", run.port))
        # And a second make run on the same port is refused.
        again = subprocess.run(
            [PY, "bin/run"],
            cwd=ROOT,
            env=clean_env(PORT=str(run.port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode != 0
        assert re.fullmatch(
            rf"Port {run.port} is already in use; run with another one: PORT=\d+ bin/run\n",
            again.stderr,
        ), again.stderr

    stop_and_check(run, how)


@pytest.mark.run
@pytest.mark.broker
@pytest.mark.parametrize("how", ["SIGTERM", "terminal closed"])
def test_make_run_with_a_broker_stops_web_worker_and_beat(start_run, how):
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.skip("no CELERY_BROKER_URL")
    if how == "terminal closed" and not shutil.which("script"):
        pytest.skip("no `script` (util-linux) to give make run a terminal")
    run = start_run(broker=broker, terminal=how == "terminal closed")
    run.wait_serving("ready.", "beat: Starting")
    started = stop_and_check(run, how)
    commands = " ".join(started.values())
    assert "celery -A config worker" in commands and "celery -A config beat" in commands


# --- configuration --------------------------------------------------------------------------

BAD = {
    "postgress": ("DATABASE_URL", {"DATABASE_URL": "postgress://postgres@127.0.0.1/promotions"}),
    "no scheme": ("DATABASE_URL", {"DATABASE_URL": "127.0.0.1:5432/promotions"}),
    "bad port": ("DATABASE_URL", {"DATABASE_URL": "postgres://postgres@127.0.0.1:54x2/promotions"}),
    "broker without scheme": ("CELERY_BROKER_URL", {"CELERY_BROKER_URL": "redis//127.0.0.1:6379"}),
    "unknown broker": ("CELERY_BROKER_URL", {"CELERY_BROKER_URL": "reddis://127.0.0.1:6379/0"}),
    "no SECRET_KEY in production": ("SECRET_KEY", {"DEBUG": "false"}),
    "unreadable SECRET_KEY_FILE": ("SECRET_KEY_FILE", {"SECRET_KEY_FILE": "/nonexistent/secret"}),
}


def assert_one_line_about(done: subprocess.CompletedProcess, variable: str):
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(variable + " ") and "e.g. " in lines[0], lines[0]


@pytest.mark.parametrize("case", list(BAD))
def test_manage_py_check_with_a_bad_variable_is_one_line(case):
    variable, values = BAD[case]
    done = subprocess.run(
        [PY, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(**{"DEBUG": "true", **values}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_about(done, variable)


ENTRY_POINTS = {
    "bin/run": ["bin/run"],
    "bin/web (granian)": ["bin/web"],
    "celery worker": [".venv/bin/celery", "-A", "config", "worker"],
    "celery beat": [".venv/bin/celery", "-A", "config", "beat"],
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", ["postgress", "unknown broker", "no SECRET_KEY in production"])
def test_every_entry_point_stops_on_a_bad_variable_with_one_line(tmp_path, entry, case):
    variable, values = BAD[case]
    env = clean_env(
        **{
            "DEBUG": "true",
            "PORT": str(free_port()),
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
            "WEB_CONCURRENCY": "1",
            "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "beat"),
            **values,
        }
    )
    done = subprocess.run(
        ENTRY_POINTS[entry], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert_one_line_about(done, variable)


GOOD = [
    {},
    {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/promotions"},
    {"DATABASE_URL": "postgresql://app:s3cret@db.internal/promotions?sslmode=require"},
    {"DATABASE_URL": "sqlite:////tmp/demo.sqlite3"},
    {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"},
    {"CELERY_BROKER_URL": "rediss://:pw@cache.internal:6380"},
    {"CELERY_BROKER_URL": "amqp://guest:guest@rabbit:5672//"},
    {"CELERY_BROKER_URL": "redis://a:6379/0;redis://b:6379/0"},
    {"DEBUG": "false", "SECRET_KEY": "k" * 50},
]


@pytest.mark.parametrize("values", GOOD, ids=lambda values: " ".join(values.values()) or "none")
def test_good_values_pass(values):
    assert env_check.problems({"DEBUG": "true", **values}, ["manage.py", "check"]) == []


def test_the_secret_is_not_required_where_it_is_never_read():
    production = {"DEBUG": "false"}
    assert env_check.problems(production, ["manage.py", "check"])
    assert env_check.problems(production, ["manage.py", "makemigrations", "--check"]) == []
    assert env_check.problems(production, ["manage.py", "collectstatic", "--noinput"]) == []
    assert env_check.problems({**production, "PYTEST_VERSION": "9"}, ["pytest"]) == []

"""The walk-through `make run` prints works end to end, and works again when run a second time.

It runs exactly the printed block, with bash, curl and jq, against the Procfile's web process
on a SQLite demo database (the zero-configuration `make run`).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.helpers import ROOT, wait_until

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_printed_walk_through_runs_twice_in_a_row(tmp_path):
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the walk-through needs {tool}"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DEBUG": "true",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    printed = subprocess.run(
        [*manage, "seed_demo", "--days", "2"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    block = re.search(r"^bash -euo pipefail <<'WALK'\n.*?^WALK$", printed, re.S | re.M).group(0)
    web = subprocess.Popen(
        ["bin/web"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until(lambda: _answers(port), timeout=60)
        runs = [
            subprocess.run(
                ["bash", "-c", block],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for _ in range(2)
        ]
    finally:
        web.terminate()
        web.wait(timeout=30)

    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(r"(?i)idempotent-replayed: true", run.stdout)
        assert '"status": "voided"' in run.stdout and '"group_by": "placement"' in run.stdout
    assert (tmp_path / "code.png").read_bytes()[:4] == b"\x89PNG"


def test_a_failing_step_stops_the_walk_through_and_shows_the_problem(tmp_path):
    """A claim for an offer that does not exist: curl shows the problem document, bash stops."""
    port = free_port()
    block = (
        "bash -euo pipefail <<'WALK'\n"
        'call() { curl -sS --fail-with-body "$@" || { echo "^ failed: curl $*" >&2; return 1; }; }\n'
        f"call http://127.0.0.1:{port}/nothing-listens-here > out.json\n"
        "echo never-reached\n"
        "WALK"
    )
    run = subprocess.run(["bash", "-c", block], cwd=tmp_path, capture_output=True, text=True)

    assert run.returncode != 0 and "never-reached" not in run.stdout
    assert "^ failed: curl" in run.stderr


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False

"""``make bench``: the hot paths under load, each beside what PostgreSQL itself does.

Starts the real stack (the Procfile's web process, granian unless --server gunicorn; a Celery
worker on Redis; PostgreSQL) on a database of its own,
loads it from wrk (a separate process, 127.0.0.1 only, bounded in time) and prints one line
per figure: throughput, p50/p99 latency, peak memory, and the ratio to the reference measured in
the same run (pgbench running the equivalent SQL; a raw COPY for bulk codes).
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def sh(cmd, env=None, **kwargs) -> str:
    return subprocess.run(
        cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs
    ).stdout


def django_side(env, *args) -> dict:
    out = sh([PY, "-m", "bench.django_side", *map(str, args)], env=env)
    return json.loads(next(line for line in out.splitlines() if line.startswith("JSON "))[5:])


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (Debian package 'wrk')")


def recreate_database(url: str) -> dict:
    import environ

    db = environ.Env.db_url_config(url)
    params = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db["NAME"]))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    return {**params, "dbname": db["NAME"]}


class RssSampler(threading.Thread):
    """Peak resident memory of a process tree (sum over processes), sampled every 100 ms."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root_pid, self.peak_kb, self.running = root_pid, 0, True

    def _tree(self):
        pids, todo = [], [self.root_pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                children = []
            todo += [int(c) for c in children]
        return pids

    def run(self):
        while self.running:
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except OSError:
                    pass
            self.peak_kb = max(self.peak_kb, total)
            time.sleep(0.1)

    def stop(self) -> float:
        self.running = False
        return self.peak_kb / 1024


def wrk(env, mode, path, duration, connections, extra_env, delay_ms=0) -> dict:
    threads = min(2, connections)
    run_env = {
        **env,
        **extra_env,
        "MODE": mode,
        "REQ_PATH": path,
        "THREADS": str(threads),
        "DELAY_MS": str(delay_ms),
    }
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "bench" / "redeem.lua"),
            BASE,
        ],
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    fields = dict(item.split("=") for item in line.split()[1:])
    seconds = int(fields["duration_us"]) / 1e6
    if int(fields["non2xx"]) + int(fields["errors"]) > int(fields["requests"]) / 100:
        print(
            f"  WARNING: {mode} run: {fields['non2xx']} non-2xx answers and {fields['errors']} "
            f"socket errors in {fields['requests']} requests; the figure is not the happy path",
            flush=True,
        )
    return {
        "rps": int(fields["requests"]) / seconds,
        "p50_ms": int(fields["p50_us"]) / 1000,
        "p99_ms": int(fields["p99_us"]) / 1000,
        "errors": int(fields["errors"]),
        "non2xx": int(fields["non2xx"]),
        "requests": int(fields["requests"]),
    }


def pgbench(db: dict, script: str, duration, connections, rate=None) -> dict:
    """pgbench running ``script``; with ``rate``, throttled to that many transactions/s."""
    settle(db)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tx.sql"
        path.write_text(script)
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-h",
                db["host"],
                "-p",
                str(db["port"]),
                "-U",
                db["user"],
                "-c",
                str(connections),
                "-j",
                "2",
                "-T",
                str(duration),
                "-f",
                str(path),
                *(["-R", str(rate)] if rate else []),
                "-l",
                "--log-prefix",
                str(Path(tmp) / "log"),
                db["dbname"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        latencies = []
        for log in glob.glob(str(Path(tmp) / "log*")):
            latencies += [
                int(line.split()[2]) / 1000 for line in Path(log).read_text().splitlines()
            ]
    tps = float(next(x for x in out.splitlines() if x.startswith("tps")).split()[2])
    q = statistics.quantiles(latencies, n=100)
    return {"rps": tps, "p50_ms": q[49], "p99_ms": q[98]}


def mean_of(runs: list[dict]) -> dict:
    """Runs of one figure, averaged: ours and the reference alternate, so that the machine's
    drift over a minute (pgbench alone moves 20-40% here) weighs on both sides alike."""
    mean = {key: statistics.fmean(run[key] for run in runs) for key in ("rps", "p50_ms", "p99_ms")}
    return {**mean, "requests": sum(run.get("requests", 0) for run in runs), "runs": len(runs)}


def alternate(db, run_ours, script: str, args) -> tuple[dict, dict]:
    """Ours and pgbench running ``script``, alternating for ``args.rounds``, each averaged.

    One run of each first is thrown away: it fills the tables the path writes, so that the
    measured runs plan against tables that have rows, as a deployed database's do. (On the
    freshly made, freshly analysed empty tables, PostgreSQL cached foreign-key checks into the
    redemptions table as sequential scans in every backend: one scan of the whole growing table
    per redeem, docs/perf-journal.md item 28.)"""
    settle(db)
    run_ours()
    pgbench(db, script, min(args.duration, 3), args.connections)
    runs, refs = [], []
    for _ in range(args.rounds):
        settle(db)
        runs.append(run_ours())
        refs.append(pgbench(db, script, args.duration, args.connections))
    return mean_of(runs), mean_of(refs)


def report(name, ours, ref, target=None, unit="req/s", mem=None):
    ratio = ours["rps"] / ref["rps"] if ref["rps"] else 0
    line = (
        f"{name:<22} {ours['rps']:9.0f} {unit}  p50 {ours['p50_ms']:6.1f} ms  p99 {ours['p99_ms']:6.1f} ms"
        f" | reference {ref['rps']:8.0f} {unit} p50 {ref['p50_ms']:5.1f} ms p99 {ref['p99_ms']:5.1f} ms"
        f" | ratio {ratio:6.1%}"
    )
    if target:
        line += f" (target {target:.0%}: {'met' if ratio >= target else 'NOT met'})"
    if mem is not None:
        line += f" | peak RSS {mem:.0f} MB"
    print(line, flush=True)
    return {"name": name, "ours": ours, "reference": ref, "ratio": ratio, "peak_mb": mem}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating runs of ours and the reference, averaged"
    )
    parser.add_argument("--only", default="redeem,claim,tracking,codes,attribution")
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument(
        "--web-workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 3))
    )
    parser.add_argument(
        "--server",
        choices=["gunicorn", "granian"],
        default=os.environ.get("WEB_SERVER", "granian"),
        help="the WSGI server bin/web starts (the Procfile's web process)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    ensure_wrk()
    url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/promotions_bench"
    )
    db = recreate_database(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "PUBLIC_BASE_URL": BASE,
        "LOG_LEVEL": "WARNING",
        "BIND": f"127.0.0.1:{PORT}",
        "WEB_CONCURRENCY": str(args.web_workers),
        "DATABASE_POOL_MAX": "8",
    }
    sh([PY, "manage.py", "migrate", "--noinput"], env=env)
    print(
        f"# bench: {os.cpu_count()} cores, {args.duration}s per run, {args.rounds} alternating rounds,"
        f" {args.connections} connections,"
        f" {args.server} {args.web_workers} workers",
        flush=True,
    )
    results = []
    # see bench_redeem's deal(): a warm-up, the rounds, half load and one till
    fresh = args.duration * 2000 * (args.rounds + 3) + 1
    seeded = django_side(env, "seed", fresh)
    codes_file = Path(tempfile.mkstemp(suffix=".codes")[1])
    codes_file.write_text("\n".join(seeded.pop("codes")))
    web = subprocess.Popen(
        ["bin/web"],
        env={**env, "WEB_SERVER": args.server},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    beat_file = Path(tempfile.mkstemp(suffix=".beat")[1])
    worker = subprocess.Popen(  # with an embedded beat: the sweep and roll-up refresh run too
        [
            PY,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency=1",
            "--loglevel=WARNING",
            "-B",
            "--schedule",
            str(beat_file),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4)
        wrk_env = {
            "CODES_FILE": str(codes_file),
            "POS_KEY": seeded["pos_key"],
            "STORE_ID": seeded["store_id"],
        }
        if "redeem" in only:
            results += bench_redeem(env, db, seeded, wrk_env, web, args)
        if "claim" in only:
            results += bench_claim(env, db, seeded, web, args)
        if "tracking" in only:
            results += bench_tracking(env, db, seeded, web, args)
    finally:
        web.terminate()
        worker.terminate()
        web.wait()
        worker.wait()
        codes_file.unlink(missing_ok=True)
        beat_file.unlink(missing_ok=True)
    if "codes" in only:
        bulk = django_side(env, "bulk", args.codes)
        results.append(
            report(
                f"bulk {args.codes:,} codes",
                {
                    "rps": bulk["count"] / bulk["job_seconds"],
                    "p50_ms": bulk["job_seconds"] * 1000,
                    "p99_ms": 0,
                },
                {
                    "rps": bulk["count"] / bulk["copy_seconds"],
                    "p50_ms": bulk["copy_seconds"] * 1000,
                    "p99_ms": 0,
                },
                unit="codes/s",
                mem=bulk["job_peak_mb"],
            )
        )
        print(
            f"  job {bulk['job_seconds']:.2f} s vs raw COPY {bulk['copy_seconds']:.2f} s = "
            f"{bulk['job_seconds'] / bulk['copy_seconds']:.2f}x (target <= 1.5x); "
            f"peak memory {bulk['job_peak_mb']:.0f} MB (target <= 200 MB)",
            flush=True,
        )
    if "attribution" in only:
        backlog = django_side(env, "attribution", args.backlog)
        rate = backlog["count"] / backlog["seconds"]
        print(
            f"{'attribution backlog':<22} {rate:9.0f} redemptions/s ({backlog['count']:,} in "
            f"{backlog['seconds']:.1f} s, {backlog['unattributed_left']} left; target >= 2,000/s: "
            f"{'met' if rate >= 2000 else 'NOT met'})",
            flush=True,
        )
        results.append({"name": "attribution", **backlog, "rate": rate})
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))


def bench_redeem(env, db, seeded, wrk_env, web, args):
    sampler = RssSampler(web.pid)
    sampler.start()
    path = "/api/v1/pos/generic/redemptions"
    codes_file = Path(wrk_env["CODES_FILE"])
    unused = codes_file.read_text().splitlines()
    spare = [unused.pop(), unused.pop()]  # never given to a run: the round trip count's

    def deal() -> None:
        """A slice of never-used codes for the next run, larger than any run here can use (wrk
        threads take every other code, so trimming what a run reported would leave some)."""
        share = args.duration * 2000
        codes_file.write_text("\n".join(unused[:share]))
        del unused[:share]

    with psycopg.connect(**db, autocommit=True) as conn:
        top = conn.execute("SELECT max(id) FROM promotions_code").fetchone()[0]
        # fresh codes for pgbench, ids above `top` (ours come from the codes file)
        django_side(env, "seed", args.duration * 15000 * (args.rounds + 1))
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS bench_code_seq START {top + 1}")
    script = f"""
BEGIN;
UPDATE promotions_code SET status = 'redeemed', use_count = 1, redeemed_at = now()
  WHERE id = (SELECT nextval('bench_code_seq')) AND status = 'issued' RETURNING id AS code_id, offer_id \\gset
INSERT INTO redemptions_redemption (code_id, unique_code, offer_id, campaign_id, brand_id,
  customer_ref, store_id, integration_id, transaction_id, basket_total, discount, status,
  occurred_at, redeemed_at, void_reason)
  VALUES (:code_id, true, :offer_id, {seeded["campaign_id"]}, {seeded["brand_id"]}, '',
  {seeded["store_pk"]}, {seeded["integration_id"]}, 'pg' || :code_id, 10, 1, 'redeemed', now(),
  now(), '');
END;
"""

    def saturate():
        deal()
        return wrk(env, "redeem", path, args.duration, args.connections, wrk_env)

    ours, ref = alternate(db, saturate, script, args)
    mem = sampler.stop()
    results = [report("POS redeem", ours, ref, target=0.25, mem=mem)]
    wait_drained(db)  # the saturating run's attribution backlog must not count as steady-state lag
    half = ours["rps"] / 2
    delay = int(1000 * 4 / half) if half else 0
    settle(db)
    deal()
    half_started = time.time()
    at_half = wrk(env, "redeem", path, args.duration, 4, wrk_env, delay_ms=delay)
    half_ended = time.time()
    print(
        f"  at half load ({at_half['rps']:.0f} req/s): p50 {at_half['p50_ms']:.1f} ms, p99 "
        f"{at_half['p99_ms']:.1f} ms (target p99 <= 50 ms: {'met' if at_half['p99_ms'] <= 50 else 'NOT met'})",
        flush=True,
    )
    # The machine's own tail at that rate: commits here sometimes wait 50-300 ms on the disk.
    ref_half = pgbench(db, script, args.duration, 4, rate=max(int(at_half["rps"]), 1))
    print(
        f"  pgbench at the same rate ({ref_half['rps']:.0f} tx/s, 4 clients): "
        f"p50 {ref_half['p50_ms']:.1f} ms, p99 {ref_half['p99_ms']:.1f} ms",
        flush=True,
    )
    settle(db)
    deal()
    one = wrk(env, "redeem", path, args.duration, 1, wrk_env)
    print(
        f"  one till, back to back: {one['rps']:.0f} req/s, p50 {one['p50_ms']:.1f} ms, "
        f"p99 {one['p99_ms']:.1f} ms",
        flush=True,
    )
    counted = django_side(env, "profile", *spare, seeded["store_id"], seeded["pos_key"])
    print(
        f"  one redeem (HTTP {counted['status']}): {counted['working']} statements doing work,"
        f" {counted['round_trips']} round trips to PostgreSQL in all",
        flush=True,
    )
    results.append({"name": "redeem statements", **counted})
    results.append({"name": "redeem half load", **at_half})
    results.append({"name": "pgbench at half load", **ref_half})
    results.append(report_lag(db, at_half, half_started, half_ended))
    results.append({"name": "redeem one till", **one})
    return results


# The tables a run writes: vacuumed between runs, as autovacuum would keep them in production.
WRITTEN_TABLES = (
    "promotions_code",
    "promotions_touchpoint",
    "redemptions_redemption",
    "redemptions_redemptionattempt",
    "redemptions_idempotencykey",
    "redemptions_attribution",
)


def settle(db) -> None:
    """Start each measured run from a vacuumed database and a quiet disk, ours and the reference
    alike.

    This machine's PostgreSQL runs with autovacuum off, so the rows an earlier run updated stay
    in the indexes: after 100,000 redemptions the attribution task's look-up of unattributed
    rows walked 140,000 dead entries of its partial index, 30 ms a call. And the seeding before a
    run leaves dirty pages whose writeback stalls the next commits' WAL flushes for hundreds of
    milliseconds on this VM, which is the machine's, not the path's, latency."""
    with psycopg.connect(**db, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {', '.join(WRITTEN_TABLES)}")
        conn.execute("CHECKPOINT")
    os.sync()
    time.sleep(1)


def wait_drained(db, limit=180.0) -> float:
    """Seconds until every redemption is attributed and rolled up (what the report reads)."""
    started = time.monotonic()
    with psycopg.connect(**db, autocommit=True) as conn:
        while time.monotonic() - started < limit:
            pending = conn.execute(
                "SELECT (SELECT count(*) FROM redemptions_redemption WHERE attributed_at IS NULL)"
                " + (SELECT count(*) FROM redemptions_rollupdirtyslice)"
            ).fetchone()[0]
            if not pending:
                break
            time.sleep(0.25)
    return time.monotonic() - started


def report_lag(db, run, since: float, until: float) -> dict:
    """Redeem -> attributed (from the rows) and -> visible in the roll-ups the report reads."""
    drained = wait_drained(db)
    with psycopg.connect(**db, autocommit=True) as conn:
        lags = [
            row[0]
            for row in conn.execute(
                "SELECT extract(epoch FROM attributed_at - redeemed_at) FROM redemptions_redemption "
                "WHERE attributed_at IS NOT NULL AND redeemed_at BETWEEN to_timestamp(%s) "
                "AND to_timestamp(%s) AND transaction_id NOT LIKE 'pg%%'",
                [since, until],
            )
        ]
    q = statistics.quantiles([float(x) for x in lags], n=100) if len(lags) > 1 else [0.0] * 99
    print(
        f"  redeem -> attributed at {run['rps']:.0f} req/s: p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms; "
        f"last redemption in the report {drained:.1f} s after the load ended (roll-up refresh every "
        f"{os.environ.get('ROLLUPS_REFRESH_SECONDS', '10')} s)",
        flush=True,
    )
    return {
        "name": "report lag",
        "attributed_p50_s": q[49],
        "attributed_p99_s": q[98],
        "drained_s": drained,
    }


def bench_claim(env, db, seeded, web, args):
    sampler = RssSampler(web.pid)
    sampler.start()
    script = f"""
\\set r random(1, 1000000000)
BEGIN;
INSERT INTO promotions_customerclaim AS c (offer_id, customer_ref, claims)
  VALUES ({seeded["offer_id"]}, 'pg-' || :client_id || '-' || :r, 0)
  ON CONFLICT (offer_id, customer_ref) DO UPDATE SET claims = c.claims RETURNING id \\gset
UPDATE promotions_offer SET issued_count = issued_count + 1 WHERE id = {seeded["offer_id"]};
INSERT INTO promotions_code (offer_id, code, kind, click_id, customer_ref, status, use_count, issued_at)
  VALUES ({seeded["offer_id"]}, 'PG' || :client_id || 'X' || :r || 'X' || random(), 'unique', '',
  'pg-' || :client_id || '-' || :r, 'issued', 0, now());
UPDATE promotions_customerclaim SET claims = claims + 1 WHERE id = :id;
END;
"""

    def claims(connections):
        path = f"/api/v1/offers/{seeded['offer_id']}/claim"
        return wrk(env, "claim", path, args.duration, connections, {"POS_KEY": seeded["app_key"]})

    ours, ref = alternate(db, lambda: claims(args.connections), script, args)
    mem = sampler.stop()
    settle(db)
    one = claims(1)
    print_result = report("claim", ours, ref, target=0.25, mem=mem)
    print(
        f"  one client, back to back: {one['rps']:.0f} req/s, p50 {one['p50_ms']:.1f} ms, "
        f"p99 {one['p99_ms']:.1f} ms",
        flush=True,
    )
    return [print_result, {"name": "claim one client", **one}]


def bench_tracking(env, db, seeded, web, args):
    sampler = RssSampler(web.pid)
    sampler.start()
    script = f"""
INSERT INTO promotions_touchpoint (brand_id, campaign_id, placement_id, kind, customer_ref,
  click_id, occurred_at, created_at)
  VALUES ({seeded["brand_id"]}, {seeded["campaign_id"]}, {seeded["placement_id"]}, 'click',
  'c' || :client_id, md5(random()::text), now(), now());
"""
    path = f"/t/{seeded['token']}"
    ours, ref = alternate(
        db, lambda: wrk(env, "track", path, args.duration, args.connections, {}), script, args
    )
    mem = sampler.stop()
    return [report("tracking redirect", ours, ref, target=0.40, mem=mem)]


if __name__ == "__main__":
    main()

import threading

from django.db import connections


def run_concurrently(fn, n: int, timeout: float = 60.0) -> list:
    """Run ``fn(i)`` in ``n`` real threads released together; each has its own DB connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait(timeout)
            results[i] = fn(i)
        except Exception as exc:  # surfaced to the test, which asserts on results
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def run_rounds(fn, n: int, rounds: int, timeout: float = 120.0) -> list[list]:
    """``rounds`` times, run ``fn(round, i)`` in ``n`` threads released together per round.

    The same threads (and their database connections) serve every round, so a race repeated
    twenty times costs twenty races, not twenty rounds of connection set-up.
    """
    barrier = threading.Barrier(n)
    results: list[list] = [[None] * n for _ in range(rounds)]

    def worker(i):
        try:
            for round_ in range(rounds):
                barrier.wait(timeout)
                try:
                    results[round_][i] = fn(round_, i)
                except Exception as exc:
                    results[round_][i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * rounds)
    return results

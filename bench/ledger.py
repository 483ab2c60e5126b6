"""What a reservation and its settlement cost on the SQLite ledger as the day's settled entries
grow: it should not grow with them.

One SQLite state file in a temporary directory, filled through the ledger with settled entries
of today (100 users, 4 backends, a few tags). After 1,000 and after 50,000 of them, the p50 of:
reserve+settle with two budgets (a day budget over all spend and a month budget of one user);
`remaining()` of the same two (the budget check alone, in two read transactions); and, as the
baseline, the budget check of the ledger before its counters, on the same file: the same two
budgets summed by a scan of the entries settled in their period, in one read transaction.

    python bench/ledger.py [--pairs 500] [--small 1000] [--large 50000]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from imagegate.state.ledger import Budget, period_start, utc_now
from imagegate.state.sqlite.ledger import SQLiteLedger

BACKENDS = ("openai/gpt-image-2", "fal/flux-schnell", "replicate/flux-dev", "local/sdxl-turbo")
TAGS = ((), ("ads",), ("blog", "spring"), ("ads", "eval"))
USERS = 100
USER = "user-0"
BUDGETS = [
    Budget(name="daily", limit_usd=1e9, period="day"),
    Budget(name="user-0 monthly", limit_usd=1e9, period="month", scope=f"user:{USER}"),
]
TTL = timedelta(hours=1)

# The budget check of the ledger before `ledger_spent`, one statement per budget.
OLD_SCAN = (
    "SELECT COALESCE(SUM(COALESCE(actual_micros, reserved_micros)), 0) FROM ledger_entries e"
    " WHERE (settled_at >= ? OR (settled_at IS NULL AND reserved_at >= ?))"
)
OLD_USER_FILTER = " AND e.user_id = ?"


def fill(ledger: SQLiteLedger, start: int, stop: int) -> None:
    """Settle entries `start` to `stop` (exclusive) of the mix, with no budget in the way."""
    for i in range(start, stop):
        reservation = ledger.reserve(
            BACKENDS[i % len(BACKENDS)],
            0.04,
            tags=TAGS[i % len(TAGS)],
            user=f"user-{i % USERS}",
            budgets=[],
            request_id=f"fill-{i}",
        )
        ledger.settle(reservation.id, 0.035)


def reserve_and_settle_ms(ledger: SQLiteLedger, pairs: int) -> float:
    """The p50 of reserve+settle against both budgets, in ms."""
    times = []
    for i in range(pairs):
        began = time.perf_counter()
        reservation = ledger.reserve(
            BACKENDS[0], 0.04, user=USER, budgets=BUDGETS, request_id=f"bench-{i}"
        )
        ledger.settle(reservation.id, 0.035)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def remaining_ms(ledger: SQLiteLedger, pairs: int) -> float:
    """The p50 of `remaining()` of both budgets (the budget check alone, read-only), in ms."""
    times = []
    for _ in range(pairs):
        began = time.perf_counter()
        for budget in BUDGETS:
            ledger.remaining(budget)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def old_scan_ms(path: Path, pairs: int) -> float:
    """The p50 of the old budget check of both budgets in one transaction, in ms."""
    db = sqlite3.connect(path, isolation_level=None)
    times = []
    for _ in range(pairs):
        now = utc_now()
        held_since = (now - TTL).timestamp()
        began = time.perf_counter()
        db.execute("BEGIN")
        db.execute(OLD_SCAN, (period_start("day", now), held_since)).fetchone()
        db.execute(
            OLD_SCAN + OLD_USER_FILTER, (period_start("month", now), held_since, USER)
        ).fetchone()
        db.execute("COMMIT")
        times.append(time.perf_counter() - began)
    db.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500, help="reserve+settle pairs timed")
    parser.add_argument("--small", type=int, default=1000, help="settled entries, first")
    parser.add_argument("--large", type=int, default=50_000, help="settled entries, then")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        ledger = SQLiteLedger(path, reservation_ttl=TTL)
        results = []
        settled = 0
        for target in (args.small, args.large):
            began = time.perf_counter()
            fill(ledger, settled, target)
            print(f"filled to {target:,} settled entries in {time.perf_counter() - began:.1f} s")
            old = old_scan_ms(path, args.pairs)
            check = remaining_ms(ledger, args.pairs)
            new = reserve_and_settle_ms(ledger, args.pairs)
            settled = target + args.pairs  # the pairs timed are settled entries too
            results.append((target, new, check, old))
        ledger.close()

    print(
        f"\nSQLite ledger, p50 of {args.pairs}: reserve+settle against a day budget over all"
        f" and a month budget of {USER}; baseline: the old scan of the same two budgets"
    )
    print(f"{'settled entries':>16} {'reserve+settle':>15} {'remaining() x2':>15} {'old scan':>10}")
    for target, new, check, old in results:
        print(f"{target:>16,} {new:>12.3f} ms {check:>12.3f} ms {old:>7.3f} ms")
    (small, *at_small), (large, *at_large) = results
    new_ratio, check_ratio, old_ratio = (a / b for a, b in zip(at_large, at_small, strict=True))
    print(
        f"{large:,} / {small:,} entries: reserve+settle {new_ratio:.2f}x,"
        f" remaining() {check_ratio:.2f}x, old scan {old_ratio:.1f}x"
    )


if __name__ == "__main__":
    main()

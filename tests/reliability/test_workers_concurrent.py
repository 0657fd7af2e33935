"""Several workers on one store — two processes on SQLite, four on PostgreSQL — pushing lines
while they are killed at random points and fresh ones take their places: every line reaches
Stripe exactly once, and together they never send faster than the account's budget.

The rate is checked on both sides: by the sandbox's request log, per calendar second (its
entries carry whole seconds only), and by the moments the workers' limiters started each
request (one monotonic clock for every process of the host), over every sliding one-second
window.

The issue's full size, 1,000 lines, by default (about 25 s a backend);
BILLING_DESK_RELIABILITY_LINES sets another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from billing_desk.sync.faults import ENV
from tests.integration.sync_seed import seed
from tests.integration.test_rate_lease_keeper import busiest_window
from tests.integration.test_sync_engine import assert_stripe_matches_ledger
from tests.reliability.test_push_kill import ROOT

BUDGET = 60
LINES = int(os.environ.get("BILLING_DESK_RELIABILITY_LINES", "1000"))


def spawn(db_url: str, sandbox: Any, kill_at: str | None, starts: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STRIPE_API_KEY": sandbox.api_key}
    env.pop(ENV, None)
    if kill_at:
        env[ENV] = kill_at
    args = [sys.executable, "-m", "tests.reliability.sync_worker", "--db", db_url]
    args += ["--base", sandbox.url, "--budget", str(BUDGET), "--starts", str(starts)]
    return subprocess.Popen(args, cwd=ROOT, env=env)


class RequestLog:
    """The sandbox keeps the last 1,000 requests of an account: read it while the run goes
    (every second, the newest few hundred: a longer listing would hold the sandbox's loop up
    long enough to bunch the requests it answers meanwhile into the next second)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.entries: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> RequestLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read(1000)

    def _read(self, limit: int) -> None:
        for entry in self.sandbox.admin.requests(limit=limit):
            self.entries[entry["request_id"]] = entry

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            self._read(300)


def test_workers_share_the_lines_and_the_budget(
    backend: str, engine: Engine, db_url: str, stripe_sandbox: Any, tmp_path: Path
) -> None:
    workers = 2 if backend == "sqlite" else 4
    seed(engine, customers=LINES // 10, lines_per_customer=10)
    stripe_sandbox.admin.configure(rate_limit=BUDGET)
    kills = spawned = 0

    def start(kill_at: str | None) -> subprocess.Popen[bytes]:
        nonlocal spawned
        spawned += 1
        return spawn(db_url, stripe_sandbox, kill_at, tmp_path / f"starts-{spawned}.txt")

    began = time.monotonic()
    with RequestLog(stripe_sandbox) as log:
        running = [start("after_stripe_response%0.01") for _ in range(workers)]
        deadline = time.monotonic() + 300
        while running:
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(0.2)
            for proc in list(running):
                code = proc.poll()
                if code is None:
                    continue
                running.remove(proc)
                kills += code == -signal.SIGKILL
                # Killed mid-push, or finished while others' retries were still due (exit 3):
                # a fresh worker takes its place.
                assert code in (0, 3, -signal.SIGKILL), code
                if code != 0:
                    running.append(start(None))
    took = time.monotonic() - began
    assert kills >= 1
    assert_stripe_matches_ledger(engine, stripe_sandbox)
    entries = list(log.entries.values())
    starts = [float(x) for f in tmp_path.glob("starts-*.txt") for x in f.read_text().split()]
    per_second = Counter(e["time"] for e in entries)
    window, _ = busiest_window(starts)
    print(
        f"\n{backend}: {workers} workers, {LINES} lines, {spawned} spawned, {kills} killed; "
        f"{len(starts)} requests in {took:.1f} s; busiest second {max(per_second.values())}, "
        f"busiest sliding window {window} (budget {BUDGET})"
    )
    assert len(entries) >= LINES * 11 // 10
    assert len(starts) >= len(entries)
    assert not [e for e in entries if e["fault"] == "rate_limit"]
    assert max(per_second.values()) <= BUDGET, per_second.most_common(3)
    assert window <= BUDGET, busiest_window(starts)

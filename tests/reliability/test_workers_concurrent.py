"""Several workers on one store — two processes on SQLite, four on PostgreSQL — pushing lines
while each of them is killed once at a random point: every line reaches Stripe exactly once,
and together they never send faster than the account's budget (checked on the sandbox's side).

300 lines by default so the suite stays quick; BILLING_DESK_RELIABILITY_LINES=1000 for the
issue's full size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from billing_desk.sync.faults import ENV
from tests.integration.sync_seed import seed
from tests.integration.test_sync_engine import assert_stripe_matches_ledger
from tests.reliability.test_push_kill import ROOT

BUDGET = 60
LINES = int(os.environ.get("BILLING_DESK_RELIABILITY_LINES", "300"))


def spawn(db_url: str, sandbox: Any, kill_at: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STRIPE_API_KEY": sandbox.api_key}
    env.pop(ENV, None)
    if kill_at:
        env[ENV] = kill_at
    args = [sys.executable, "-m", "tests.reliability.sync_worker", "--db", db_url]
    args += ["--base", sandbox.url, "--budget", str(BUDGET)]
    return subprocess.Popen(args, cwd=ROOT, env=env)


class RequestLog:
    """The sandbox keeps the last 1,000 requests of an account: read it while the run goes."""

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
        self._read()

    def _read(self) -> None:
        for entry in self.sandbox.admin.requests(limit=1000):
            self.entries[entry["request_id"]] = entry

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            self._read()


def test_workers_share_the_lines_and_the_budget(
    backend: str, engine: Engine, db_url: str, stripe_sandbox: Any
) -> None:
    workers = 2 if backend == "sqlite" else 4
    seed(engine, customers=LINES // 10, lines_per_customer=10)
    stripe_sandbox.admin.configure(rate_limit=BUDGET)
    kills = 0
    with RequestLog(stripe_sandbox) as log:
        running = [
            spawn(db_url, stripe_sandbox, "after_stripe_response%0.01") for _ in range(workers)
        ]
        deadline = time.monotonic() + 150
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
                    running.append(spawn(db_url, stripe_sandbox, None))
    assert kills >= 1
    assert_stripe_matches_ledger(engine, stripe_sandbox)
    entries = list(log.entries.values())
    assert len(entries) >= LINES * 11 // 10
    assert not [e for e in entries if e["fault"] == "rate_limit"]
    per_second = Counter(e["time"] for e in entries)
    assert max(per_second.values()) <= BUDGET, per_second.most_common(3)

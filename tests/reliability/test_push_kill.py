"""A worker killed (SIGKILL) at each step of a push — before Stripe sees it, between Stripe's
answer and the local commit, after the commit — and restarted: exactly one invoice item per
line, holding the line's amount. Against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from billing_desk.sync.faults import ENV, POINTS
from tests.integration.sync_seed import seed
from tests.integration.test_sync_engine import assert_stripe_matches_ledger

ROOT = Path(__file__).resolve().parents[2]


def run_worker(db_url: str, sandbox: Any, kill_at: str | None = None, **extra: str) -> int:
    env = {**os.environ, "STRIPE_API_KEY": sandbox.api_key}
    env.pop(ENV, None)
    if kill_at:
        env[ENV] = kill_at
    args = [sys.executable, "-m", "tests.reliability.sync_worker", "--db", db_url]
    args += ["--base", sandbox.url]
    for name, value in extra.items():
        args += [f"--{name}", value]
    return subprocess.run(args, cwd=ROOT, env=env, timeout=120, check=False).returncode


def test_killed_at_every_step_then_restarted_pushes_every_line_once(
    engine: Engine, db_url: str, stripe_sandbox: Any
) -> None:
    seed(engine, customers=4, lines_per_customer=5)
    # One worker after another, each killed at the next step (after_claim comes once per
    # claim, the others once per operation), then one that runs to the end.
    for point in POINTS:
        nth = 1 if point == "after_claim" else 2
        assert run_worker(db_url, stripe_sandbox, f"{point}@{nth}") == -signal.SIGKILL, point
    assert run_worker(db_url, stripe_sandbox) == 0
    assert_stripe_matches_ledger(engine, stripe_sandbox)

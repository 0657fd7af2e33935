"""A worker killed (SIGKILL) at each step of a push — before Stripe sees it, between Stripe's
answer and the local commit, after the commit — and restarted: exactly one invoice item per
line, holding the line's amount. Against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from billing_desk.store.models import Line, OutboxOperation
from billing_desk.store.uow import UnitOfWork
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


def test_sigterm_mid_pass_stops_cleanly_and_leaves_nothing_half_recorded(
    engine: Engine, db_url: str, stripe_sandbox: Any
) -> None:
    seed(engine, customers=20, lines_per_customer=5)
    stripe_sandbox.admin.configure(latency_ms=100)
    env = {**os.environ, "STRIPE_API_KEY": stripe_sandbox.api_key}
    env.pop(ENV, None)
    args = [sys.executable, "-m", "billing_desk", "--db", db_url, "--stripe-base"]
    proc = subprocess.Popen([*args, stripe_sandbox.url, "sync"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while stripe_sandbox.admin.counts().get("POST /v1/invoiceitems", 0) < 5:
            assert time.monotonic() < deadline, "the worker never started pushing"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with UnitOfWork(engine) as uow:
        states = set(uow.session.scalars(select(OutboxOperation.state)))
        pushed = uow.session.scalar(
            select(func.count()).select_from(Line).where(Line.sync_state == "synced")
        )
    assert "claimed" not in states  # every lease given back
    assert 0 < (pushed or 0) < 100  # it really stopped mid-pass
    stripe_sandbox.admin.configure(latency_ms=0)
    assert run_worker(db_url, stripe_sandbox) == 0
    assert_stripe_matches_ledger(engine, stripe_sandbox)

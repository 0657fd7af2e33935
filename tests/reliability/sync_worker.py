"""A sync worker process for the reliability tests: `python -m tests.reliability.sync_worker`.

One `run_once` pass of the real engine with short leases and heartbeats, so a killed worker's
customers pass to another within seconds. The Stripe key comes from STRIPE_API_KEY; a kill point
from BILLING_DESK_TEST_KILL_AT (see billing_desk/sync/faults.py). Exit 0 when nothing is left
to retry, 3 otherwise.

`--starts FILE` appends the moment each Stripe request started, by the limiter's monotonic
clock (one clock for every process of a host), a line each and written at once, so a SIGKILL
loses none: the test checks every sliding one-second window across all the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import timedelta
from typing import TextIO

from billing_desk.domain.settings import Settings
from billing_desk.store.engine import create_store_engine
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, RetryPolicy
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import SyncEngine

LEASE_S = 1.0


def record_starts(limiter: RateLimiter, out: TextIO) -> None:
    acquire = limiter.acquire

    async def acquire_and_record() -> float:
        started = await acquire()
        out.write(f"{started:.6f}\n")
        return started

    limiter.acquire = acquire_and_record  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--budget", type=float, default=50.0)
    parser.add_argument("--close", metavar="PERIOD")
    parser.add_argument("--starts", metavar="FILE")
    args = parser.parse_args()
    store = create_store_engine(args.db)
    config = EngineConfig(
        lease=timedelta(seconds=LEASE_S),
        heartbeat=timedelta(milliseconds=200),
        backoff_base=timedelta(milliseconds=100),
        backoff_cap=timedelta(seconds=1),
        defer=timedelta(milliseconds=100),
        pass_patience=timedelta(seconds=8),
        rate_limit=args.budget,
    )
    gateway = GatewayConfig(
        os.environ["STRIPE_API_KEY"],
        args.base,
        timeout_s=10,
        retry=RetryPolicy(attempts=5, base_s=0.05, cap_s=0.5),
    )
    engine = SyncEngine(store, gateway, Settings(sync_interval=timedelta(0)), config=config)
    starts = open(args.starts, "a", buffering=1) if args.starts else None  # noqa: SIM115
    if starts is not None:
        record_starts(engine.limiter, starts)
    try:
        summary = asyncio.run(engine.run_once(close_period=args.close))
    finally:
        store.dispose()
        if starts is not None:
            starts.close()
    return 0 if summary.pending == 0 else 3


if __name__ == "__main__":
    raise SystemExit(main())

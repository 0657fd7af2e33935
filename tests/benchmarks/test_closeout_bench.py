"""Close-out: every customer's period pushed and its draft invoice created, bounded by Stripe's
rate limit rather than by latency.

The sandbox runs in its own process at `--rate-limit 25 --latency-ms 150`. The engine closes
N customers × 6 lines (a Stripe customer, 6 invoice items and an invoice each: 8 calls) with a
budget of 25 requests/s. Target: wall time ≤ 1.15 × (calls ÷ 25/s) with no 429 in the outcome.
Beside it, a sequential client (stripe-python, one request at a time, as a naive script
would) makes the same calls for a sample of customers; its time is scaled to all of them.
Then the worker's peak memory (tracemalloc) at two sizes: flat in the number of customers.

Sizes (BILLING_DESK_BENCH_SIZE): full = 2,000 customers (about 11 minutes), smoke = 40.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe

from billing_desk.sandbox import new_test_key
from billing_desk.services.close import close_period
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.sync_seed import seed

RATE = 25.0
LATENCY_MS = 150
SIZES = {"smoke": (40, 10, (10, 40)), "full": (2000, 50, (100, 400))}
ROOT = Path(__file__).resolve().parents[2]
_SERVER = """
import sys, time
from billing_desk.sandbox import FaultConfig, SandboxServer
rate = float(sys.argv[1]) if sys.argv[1] != "none" else None
faults = FaultConfig(rate_limit=rate, latency_ms=float(sys.argv[2]))
with SandboxServer(port=0, faults=faults) as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def sandbox_process(rate: float | None, latency_ms: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(rate or "none"), str(latency_ms)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def close_out(
    tmp: Path, base: str, customers: int, rate: float | None
) -> tuple[PassSummary, float, SyncEngine]:
    store = create_store_engine(f"sqlite:///{tmp / f'close-{customers}.sqlite3'}")
    upgrade(store)
    now = datetime.now(UTC)
    seed(store, customers, 6, now=now)
    with UnitOfWork(store, write=True) as uow:
        close_period(uow, "2026-10", now, timedelta(hours=24))
    config = EngineConfig(rate_limit=rate or 10_000.0)
    sync = SyncEngine(store, GatewayConfig(new_test_key(), base), config=config)
    started = time.perf_counter()
    summary = asyncio.run(sync.run_once(close_period="2026-10"))
    wall = time.perf_counter() - started
    store.dispose()
    return summary, wall, sync


def sequential(base: str, customers: int) -> tuple[int, float]:
    """The same 8 calls per customer, one after another, as a plain script would send them."""
    client = stripe.StripeClient(
        new_test_key(), base_addresses={"api": base}, max_network_retries=0
    )
    calls = 0
    started = time.perf_counter()
    for c in range(customers):
        customer = client.v1.customers.create({"name": f"c{c}", "email": f"c{c}@example.com"})
        for i in range(6):
            client.v1.invoice_items.create(
                {"customer": customer.id, "amount": 100 + i, "currency": "usd"}
            )
        client.v1.invoices.create(
            {
                "customer": customer.id,
                "auto_advance": False,
                "pending_invoice_items_behavior": "include",
            }
        )
        calls += 8
    return calls, time.perf_counter() - started


@pytest.mark.timeout(3600)
def test_closeout_is_bound_by_the_rate_limit(bench_size: str, tmp_path: Path) -> None:
    customers, sample, _ = SIZES[bench_size]
    with sandbox_process(RATE, LATENCY_MS) as base:
        summary, wall, sync = close_out(tmp_path, base, customers, RATE)
        seq_calls, seq_wall = sequential(base, sample)
    calls = summary.api_calls
    bound = calls / RATE
    seq_total = seq_wall / seq_calls * calls
    print(f"\nClose-out: {customers} customers x 6 lines, sandbox at {RATE:g}/s, {LATENCY_MS} ms")
    print(f"{'client':<34}{'calls':>8}{'wall s':>10}{'calls/s':>10}{'vs limit':>10}")
    engine_row = f"{'sync engine (budget 25/s)':<34}{calls:>8}{wall:>10.1f}{calls / wall:>10.1f}"
    print(f"{engine_row}{wall / bound:>10.2f}")
    print(
        f"{'sequential client (scaled)':<34}{calls:>8}{seq_total:>10.1f}"
        f"{calls / seq_total:>10.1f}{seq_total / bound:>10.2f}"
    )
    print(f"  (sequential measured on {sample} customers: {seq_calls} calls in {seq_wall:.1f} s)")
    print(f"  429s met by the engine: {sync.stats.rate_limited}; left pending: {summary.pending}")
    assert calls == customers * 8
    assert summary.pending == summary.needs_attention == 0
    assert sync.stats.rate_limited == 0
    assert wall <= 1.15 * bound


def test_on_demand_push_of_a_100_line_customer(bench_size: str, tmp_path: Path) -> None:
    """An agent opens a customer with 100 changed lines: pushed within 2 s (target) on a live
    key's budget (80/s); a test key's 20/s bounds it to 5 s, shown beside it."""
    rows = []
    with sandbox_process(None, 50) as base:
        for budget in (80.0, 20.0):
            store = create_store_engine(f"sqlite:///{tmp_path / f'open-{budget:.0f}.sqlite3'}")
            upgrade(store)
            customer = seed(store, 1, 100).customers[0]
            sync = SyncEngine(
                store, GatewayConfig(new_test_key(), base), config=EngineConfig(rate_limit=budget)
            )
            started = time.perf_counter()
            summary = asyncio.run(sync.run_once(customer))
            rows.append((budget, summary, time.perf_counter() - started))
            store.dispose()
    print("\nOn-demand push of one customer with 100 changed lines (sandbox latency 50 ms)")
    print(f"{'budget':>8}{'calls':>8}{'wall s':>9}{'rate bound s':>14}")
    for budget, summary, wall in rows:
        print(
            f"{budget:>7.0f}/s{summary.api_calls:>8}{wall:>9.2f}{summary.api_calls / budget:>14.2f}"
        )
    for _, summary, _ in rows:
        assert summary.pushed == 100
    if bench_size == "full":
        assert rows[0][2] <= 2.0


@pytest.mark.timeout(1800)
def test_worker_memory_is_flat_in_customers(bench_size: str, tmp_path: Path) -> None:
    small, large = SIZES[bench_size][2]
    peaks = {}
    with sandbox_process(None, 0) as base:
        for customers in (small, large):
            tracemalloc.start()
            summary, _, _ = close_out(tmp_path, base, customers, None)
            peaks[customers] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert summary.pending == 0
    ratio = peaks[large] / peaks[small]
    print(f"\nWorker peak memory (tracemalloc) closing {small} vs {large} customers")
    for customers, peak in peaks.items():
        print(f"  {customers:>6} customers: {peak / 1e6:6.1f} MB")
    print(f"  ratio {ratio:.2f} for {large / small:.0f}x the customers")
    assert ratio < 1.5

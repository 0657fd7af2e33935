"""`sync [--once] [--customer ID]` and `close --period YYYY-MM [--grace DURATION]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from billing_desk.cli.context import Context
from billing_desk.config import stripe_api_key
from billing_desk.domain.errors import ConfigurationError, InvalidInput
from billing_desk.services.close import close_period, parse_duration, parse_period
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, StripeGateway, install_log_redaction
from billing_desk.sync.engine import PassSummary, Progress, PullStep, SyncEngine
from billing_desk.sync.events import poll_events
from billing_desk.sync.pull import pull_customer


def _pull_step(store: Engine) -> PullStep:
    """After the pushes: `sync` polls Stripe's events; `sync --customer` pulls that customer."""

    def writer() -> UnitOfWork:
        return UnitOfWork(store, write=True)

    async def pull(gateway: StripeGateway, customer: str | None) -> int:
        if customer is not None:
            return (await pull_customer(gateway, writer, customer)).objects
        return await poll_events(gateway, writer)

    return pull


def _engine(
    ctx: Context, args: argparse.Namespace, on_progress: Any = None, *, pull: bool = False
) -> SyncEngine:
    install_log_redaction()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    key = stripe_api_key(ctx.secrets)
    if not key:
        raise ConfigurationError(
            "no Stripe key: set STRIPE_API_KEY or store it in the OS keyring "
            "(service billing-desk, entry stripe-api-key)"
        )
    store = ctx.engine()
    return SyncEngine(
        store,
        GatewayConfig(key, ctx.options.stripe_base),
        on_progress=on_progress,
        # Audit rows the worker writes name who runs it (the database login on PostgreSQL).
        actor=ctx.actor,
        pull=_pull_step(store) if pull else None,
    )


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM/SIGINT end the run cleanly: running operations settle, nothing is half-written."""
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _exit_code(summary: PassSummary) -> int:
    if summary.needs_attention:
        return 4
    if summary.pending:
        return 3
    return 0


def run_sync(ctx: Context, args: argparse.Namespace) -> int:
    engine = _engine(ctx, args, pull=True)
    if args.customer is not None:
        with UnitOfWork(ctx.engine()) as uow:
            if uow.session.get(Customer, args.customer) is None:
                raise InvalidInput(f"--customer: no customer with id {args.customer!r}")

    async def main() -> PassSummary | None:
        stop = asyncio.Event()
        with _stop_on_signals(asyncio.get_running_loop(), stop):
            if args.once or args.customer is not None:
                return await engine.run_once(args.customer, stop=stop)
            await engine.run_forever(stop)
            return None

    summary = asyncio.run(main())
    if summary is None:
        return 0
    for line in summary.attention[:20]:
        ctx.warn(f"needs attention: {line}")
    out = summary.to_json()
    ctx.emit(
        out,
        f"{out['pushed']} lines pushed, {out['finalized']} invoices finalized, "
        f"{out['pulled']} objects pulled, {out['api_calls']} Stripe calls; "
        f"{out['pending']} pending, {out['needs_attention']} need attention",
    )
    return _exit_code(summary)


class _ProgressBar:
    """done/total and calls per second on stderr, redrawn in place, only on a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def __call__(self, progress: Progress) -> None:
        if not self.enabled or progress.total == 0:
            return
        width = 30
        filled = width * progress.done // progress.total
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total}"
            f"  {progress.calls_per_s:.1f} calls/s"
        )
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def run_close(ctx: Context, args: argparse.Namespace) -> int:
    period = parse_period(args.period)
    grace_arg = None if args.grace is None else parse_duration(args.grace)
    bar = _ProgressBar()
    engine = _engine(ctx, args, on_progress=bar)
    with UnitOfWork(ctx.engine(), write=True) as uow:
        grace = grace_arg if grace_arg is not None else load_settings(uow.session).finalize_grace
        result = close_period(uow, period, engine.clock.now(), grace)

    async def main() -> PassSummary:
        stop = asyncio.Event()
        with _stop_on_signals(asyncio.get_running_loop(), stop):
            return await engine.run_once(close_period=period, stop=stop)

    try:
        summary = asyncio.run(main())
    finally:
        bar.end()
    with UnitOfWork(ctx.engine()) as uow:
        invoices = sync_repo.invoiced_count(uow.session, period)
    for line in summary.attention[:20]:
        ctx.warn(f"needs attention: {line}")
    out = {"invoices": invoices, "api_calls": summary.api_calls}
    ctx.emit(
        out,
        f"{invoices} of {result.customers} invoices for {period} are in Stripe "
        f"({summary.api_calls} Stripe calls)",
    )
    if summary.needs_attention:
        return 4
    return 3 if invoices < result.customers else 0

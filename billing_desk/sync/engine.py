"""The sync engine: claims due outbox operations, runs them against Stripe, finalizes due drafts.

One object, two hosts: `billing-desk sync` runs it headless, the desktop app on a worker
thread's event loop. Everything Stripe-bound is asyncio; store calls are short transactions.

    engine = SyncEngine(store_engine, GatewayConfig(key, base))
    summary = await engine.run_once()                 # one pass, like `sync --once`
    await engine.run_forever(stop_event)              # until stop_event is set
    engine.request_customer_push("cus-1")             # an agent opened a customer (any thread)

Several engines (desktops, a headless service) may share one store. They split the Stripe
account's request budget by leases on whole requests per second, granted in a serialized
store transaction so that the shares in force never sum to more than the budget. A newcomer
gets what the others leave free (maybe nothing: its requests wait); at their next heartbeat the
others slow down to budget / wanting workers, and what they gave up is granted a second later,
once their past requests have left Stripe's one-second window. The limiter starts requests only
while this worker's lease is valid by its own clock, so a killed, stalled or cut-off worker
stops by itself before its share can go to another — no guess about who is alive
(`sync/rate_lease.py`, `store/rate_lease_repo.py`). Customer-wide outbox leases keep any
operation from being sent by two of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from billing_desk.domain.settings import Settings
from billing_desk.services import corrections
from billing_desk.store import sync_repo
from billing_desk.store.audit_repo import append_audit
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.sync_ops import (
    CLAIMED,
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    CREDIT_NOTE,
    FINALIZE_INVOICE,
    NEEDS_ATTENTION,
    PENDING,
    PUSH_LINE,
    SUPERSEDED,
    VOID_INVOICE,
)
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import (
    GatewayConfig,
    PermanentStripeError,
    RateLimiter,
    StripeFailure,
    StripeGateway,
    StripeKeyRejected,
    is_live_key,
    open_gateway,
)
from billing_desk.sync import invoicing, push, rollup
from billing_desk.sync.clock import Clock, SystemClock
from billing_desk.sync.context import EngineConfig, OpContext
from billing_desk.sync.faults import kill_point
from billing_desk.sync.rate_lease import LeaseKeeper
from billing_desk.sync.recorder import Recorder
from billing_desk.sync.results import Result, Status
from billing_desk.sync.stats import CallStats

T = TypeVar("T")
ProgressCallback = Callable[["Progress"], None]
StatusCallback = Callable[[str, str | None], None]
# One pass of an open engine session (see `SyncEngine.session`).
PassRunner = Callable[..., Awaitable["PassSummary"]]
# The pull side, run once per pass after the pushes: returns how many objects it refreshed.
PullStep = Callable[[StripeGateway, "str | None"], Awaitable[int]]

EXECUTORS: dict[str, Callable[[OpContext, sync_repo.ClaimedOp], Awaitable[Result]]] = {
    CREATE_CUSTOMER: invoicing.create_customer,
    CREATE_INVOICE: invoicing.create_invoice,
    FINALIZE_INVOICE: invoicing.finalize_invoice,
    CREDIT_NOTE: invoicing.credit_note,
    VOID_INVOICE: invoicing.void_invoice,
}
# A customer's operations run in this order: it must exist in Stripe before anything is billed
# to it, its lines are pushed before its invoice is created, and created before finalized.
PHASES = (
    (CREATE_CUSTOMER,),
    (PUSH_LINE,),
    (CREDIT_NOTE, VOID_INVOICE),
    (CREATE_INVOICE,),
    (FINALIZE_INVOICE,),
)
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    calls_per_s: float


@dataclass
class PassSummary:
    """CONTRACT.md's `sync` summary, plus what the engine knows beside it."""

    api_calls: int = 0
    pushed: int = 0
    pulled: int = 0
    finalized: int = 0
    invoices_created: int = 0
    pending: int = 0
    needs_attention: int = 0
    blocked: int = 0
    stopped: str | None = None
    # Why the pull step failed this pass (it is tried again next pass); counted as pending.
    pull_error: str | None = None
    attention: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, int]:
        return {
            "api_calls": self.api_calls,
            "pushed": self.pushed,
            "pulled": self.pulled,
            "finalized": self.finalized,
            "pending": self.pending + (self.pull_error is not None),
            "needs_attention": self.needs_attention,
        }


class SyncEngine:
    def __init__(
        self,
        store: Engine,
        gateway_config: GatewayConfig,
        settings: Settings | None = None,
        *,
        worker_id: str | None = None,
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        on_progress: ProgressCallback | None = None,
        on_status: StatusCallback | None = None,
        pull: PullStep | None = None,
        actor: str = "sync",
    ) -> None:
        self.store = store
        # Who the audit trail names for what the worker does on its own (corrections it
        # applies, operations Stripe refused).
        self.actor = actor
        self.gateway_config = gateway_config
        self.config = config or EngineConfig()
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._settings = settings
        self._on_progress = on_progress
        self._on_status = on_status
        self._pull = pull
        self.stats = CallStats(self.worker_id, self.clock, self._on_backoff)
        # Sends only under a lease on a share of the budget (renewed every heartbeat).
        self.limiter = RateLimiter.leased()
        self._lease = LeaseKeeper(
            store,
            self.limiter,
            self.worker_id,
            budget=lambda: self.budget,
            beat=self.config.heartbeat,
        )
        self.limiter.on_lease_needed = self._lease.wanted
        self._requested: asyncio.Queue[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status: tuple[str, str | None] = ("idle", None)
        self._recorder = Recorder(store)

    # Configuration

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with UnitOfWork(self.store) as uow:
                self._settings = load_settings(uow.session)
        return self._settings

    @property
    def budget(self) -> float:
        """Requests per second for the whole Stripe account, shared by every live worker."""
        if self.config.rate_limit is not None:
            return self.config.rate_limit
        live = is_live_key(self.gateway_config.api_key)
        return self.settings.rate_limit_live if live else self.settings.rate_limit_test

    # Callbacks

    def _status_to(self, state: str, detail: str | None = None) -> None:
        if (state, detail) == self._status:
            return
        self._status = (state, detail)
        if self._on_status is not None:
            self._on_status(state, detail)

    def _on_backoff(self, endpoint: str, failure: StripeFailure, delay_s: float) -> None:
        self._status_to("backing_off", f"{failure.message}; retrying in {delay_s:.1f} s")

    # Public API

    def request_customer_push(self, customer_id: str) -> None:
        """Push this customer's changes now (an agent opened it or pressed Sync). Thread-safe."""
        if self._loop is None or self._requested is None:
            return
        self._loop.call_soon_threadsafe(self._requested.put_nowait, customer_id)

    async def run_once(
        self,
        customer: str | None = None,
        *,
        close_period: str | None = None,
        stop: asyncio.Event | None = None,
    ) -> PassSummary:
        """One pass: push what is due (all of `customer`'s changes, or all of `close_period`'s),
        finalize due drafts, pull; transient failures are retried within the pass."""
        stop = stop or asyncio.Event()
        async with self._session(stop) as gateway:
            return await self._pass(gateway, customer, close_period, stop)

    @contextlib.asynccontextmanager
    async def session(self, stop: asyncio.Event | None = None) -> AsyncIterator[PassRunner]:
        """Several passes on one connection and heartbeat, at moments the caller picks (a
        simulated month in the benchmarks): `async with engine.session() as run: await run()`."""
        stop = stop or asyncio.Event()
        async with self._session(stop) as gateway:

            async def run(
                customer: str | None = None, *, close_period: str | None = None
            ) -> PassSummary:
                return await self._pass(gateway, customer, close_period, stop)

            yield run

    async def run_forever(self, stop: asyncio.Event, idle_poll_s: float = 2.0) -> None:
        """Passes until `stop` is set; on-demand customer pushes jump the queue."""
        async with self._session(stop) as gateway:
            assert self._requested is not None
            while not stop.is_set():
                # Retries wait for the next pass here, so agents' requests are never held up.
                await self._pass(gateway, None, None, stop, patient=False)
                if stop.is_set():
                    break
                self._status_to("idle")
                customer = await _first_of(self._requested.get(), stop, idle_poll_s)
                while customer is not None and not stop.is_set():
                    self._status_to("running", f"customer {customer}")
                    await self._pass(gateway, customer, None, stop, patient=False)
                    customer = self._requested.get_nowait() if not self._requested.empty() else None

    # The pass

    @contextlib.asynccontextmanager
    async def _session(self, stop: asyncio.Event) -> AsyncIterator[StripeGateway]:
        self._loop = asyncio.get_running_loop()
        self._requested = asyncio.Queue()
        self._recorder = Recorder(self.store)
        self._status_to("running")
        heart = asyncio.create_task(self._heartbeat_loop(stop))
        reason: str | None = None
        try:
            await self._beat()
            await self._wait_for_share(stop)
            async with open_gateway(self.gateway_config, self.limiter, self.stats) as gateway:
                yield gateway
        except StripeKeyRejected as exc:
            reason = exc.message
            raise
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
            await self._sign_off(reason)
            self._status_to("stopped", reason)

    async def _wait_for_share(self, stop: asyncio.Event) -> None:
        """A newcomer whose share the others still hold claims nothing until it may send: what
        it claimed would only wait, out of the others' reach."""
        while not self.limiter.can_send() and not stop.is_set():
            await _first_of(self._lease.wanted(), stop, None)

    def _scope(self, customer: str | None, close_period: str | None) -> sync_repo.ClaimScope:
        if customer is not None or close_period is not None:
            return sync_repo.ClaimScope(customer=customer, close_period=close_period)
        return sync_repo.ClaimScope(interval_cutoff=self.clock.now() - self.settings.sync_interval)

    async def _pass(
        self,
        gateway: StripeGateway,
        customer: str | None,
        close_period: str | None,
        stop: asyncio.Event,
        *,
        patient: bool = True,
    ) -> PassSummary:
        summary = PassSummary()
        calls_before = self.stats.calls
        ctx = OpContext(
            self.store,
            gateway,
            self.worker_id,
            self.clock,
            self.stats,
            self.config,
            self._recorder,
        )
        scope = self._scope(customer, close_period)
        await asyncio.to_thread(self._apply_corrections, customer)
        with UnitOfWork(self.store) as uow:
            total = sync_repo.count_due(uow.session, self.clock.now(), scope)
        tally = _Tally(total, self._report_progress)
        running: set[asyncio.Task[None]] = set()
        last_progress = time.monotonic()
        patience = self.config.pass_patience.total_seconds() if patient else 0.0
        tried = False  # operations were run since the last progress
        try:
            while not stop.is_set():
                stalled = time.monotonic() - last_progress > patience
                if not running and tried and stalled:
                    break  # retries that keep failing (an outage): the next pass goes on
                room = self.config.customer_concurrency - len(running)
                claimed = await self._claim_requested(ctx) if room > 0 and customer is None else []
                if room > len({op.customer_id for op in claimed}):
                    more = room - len({op.customer_id for op in claimed})
                    claimed += await self._claim(ctx, scope, more)
                tried = tried or bool(claimed)
                for customer_id, ops in _by_customer(claimed).items():
                    running.add(
                        asyncio.create_task(
                            self._customer(ctx, customer_id, ops, stop, tally, summary)
                        )
                    )
                if running:
                    done, running = await _wait_any(running, stop)
                    errors = [e for e in (t.exception() for t in done) if e is not None]
                    if errors:
                        raise errors[0]  # a bug or a rejected key stops the pass loudly
                    if tally.progress:
                        last_progress, tally.progress, tried = time.monotonic(), False, False
                    continue
                with UnitOfWork(self.store) as uow:
                    waiting, earliest = sync_repo.retrying(uow.session, self.clock.now(), customer)
                if not waiting or earliest is None:
                    break
                idle_for = time.monotonic() - last_progress
                wait = max(0.0, (earliest - self.clock.now()).total_seconds())
                if idle_for + wait > patience:
                    break
                self._status_to("backing_off", f"{waiting} operations wait to be retried")
                await _first_of(asyncio.sleep(min(wait, 1.0) or 0.05), stop, None)
            await asyncio.to_thread(self._settle_corrections)
            if not stop.is_set() and self._pull is not None:
                summary.pulled = await self._pull_safely(gateway, customer, summary)
        finally:
            await self._drain(running)
            self._release()
        summary.api_calls = self.stats.calls - calls_before
        self._finish_summary(summary, customer)
        if stop.is_set():
            summary.stopped = "stopped on request"
        await self._flush()
        return summary

    def _apply_corrections(self, customer: str | None) -> None:
        """Approved corrections become line changes and outbox operations before the claim, so
        this very pass sends them."""
        with UnitOfWork(self.store, write=True) as uow:
            corrections.apply_approved(uow, self.actor, customer_id=customer)

    def _settle_corrections(self) -> None:
        """Credit notes and voids Stripe refused for good this pass fail their corrections."""
        with UnitOfWork(self.store, write=True) as uow:
            corrections.settle_outcomes(uow, self.actor)

    async def _pull_safely(
        self, gateway: StripeGateway, customer: str | None, summary: PassSummary
    ) -> int:
        """The pull step; Stripe failing it is work left for the next pass, not a crash."""
        assert self._pull is not None
        try:
            return await self._pull(gateway, customer)
        except StripeKeyRejected:
            raise
        except StripeFailure as exc:
            severity = "permanent" if isinstance(exc, PermanentStripeError) else "transient"
            self.stats.error(exc.endpoint, severity, f"pull: {exc.message}", None, customer)
            summary.pull_error = exc.message
            return 0

    async def _claim_requested(self, ctx: OpContext) -> list[sync_repo.ClaimedOp]:
        """Customers an agent asked for jump the queue, even in the middle of a long pass."""
        claimed: list[sync_repo.ClaimedOp] = []
        while self._requested is not None and not self._requested.empty():
            wanted = self._requested.get_nowait()
            claimed += await self._claim(ctx, sync_repo.ClaimScope(customer=wanted), 1)
        return claimed

    async def _claim(
        self, ctx: OpContext, scope: sync_repo.ClaimScope, customers: int
    ) -> list[sync_repo.ClaimedOp]:
        now, lease = self.clock.now(), self.config.lease

        def claim() -> list[sync_repo.ClaimedOp]:
            # Its own short transaction: row locks taken here are not held through a group
            # commit that other workers' claims would then wait on.
            with UnitOfWork(self.store, write=True) as uow:
                ops = sync_repo.claim(uow.session, self.worker_id, now, lease, scope, customers)
                uow.commit()
            return ops

        ops = await asyncio.to_thread(claim)
        if ops:
            kill_point("after_claim")
        return ops

    async def _customer(
        self,
        ctx: OpContext,
        customer_id: str,
        ops: list[sync_repo.ClaimedOp],
        stop: asyncio.Event,
        tally: _Tally,
        summary: PassSummary,
    ) -> None:
        """One customer's claimed operations, phase by phase; lines concurrently."""
        gate = asyncio.Semaphore(self.config.line_concurrency)
        for kinds in PHASES:
            batch = [op for op in ops if op.kind in kinds]
            if not batch or stop.is_set():
                continue
            if kinds == (PUSH_LINE,):
                chains: dict[int | None, list[sync_repo.ClaimedOp]] = defaultdict(list)
                for op in batch:
                    chains[op.line_id].append(op)
                # The first push of every line is planned in one read; later ones (a line
                # changed again while a push was unconfirmed) read afresh after it.
                firsts = [line_ops[0] for line_ops in chains.values()]
                plans = await asyncio.to_thread(push.plan_many, ctx, firsts)
                for period, by_group in _rollup_groups(chains, plans).items():
                    await self._rollup(ctx, customer_id, period, by_group, tally, summary)
                    for op in (op for ops in by_group.values() for op in ops):
                        chains.pop(op.line_id, None)

                await asyncio.gather(
                    *(
                        self._chain(ctx, line_ops, plans, gate, stop, tally, summary)
                        for line_ops in chains.values()
                    )
                )
            else:
                for op in batch:
                    if stop.is_set():
                        return
                    await self._execute(ctx, op, tally, summary)

    async def _chain(
        self,
        ctx: OpContext,
        line_ops: list[sync_repo.ClaimedOp],
        plans: dict[int, push.Plan],
        gate: asyncio.Semaphore,
        stop: asyncio.Event,
        tally: _Tally,
        summary: PassSummary,
    ) -> None:
        """One line's pushes, oldest first: a later one may depend on what the first made."""
        async with gate:
            for op in line_ops:
                if stop.is_set():
                    return
                await self._execute(ctx, op, tally, summary, plans.pop(op.id, None))

    async def _rollup(
        self,
        ctx: OpContext,
        customer_id: str,
        period: str,
        by_group: dict[str, list[sync_repo.ClaimedOp]],
        tally: _Tally,
        summary: PassSummary,
    ) -> None:
        """A rolled-up period's claimed pushes: one call per group, whatever it holds."""
        outcome = await rollup.run_period(ctx, customer_id, period, by_group)
        for op in (op for ops in by_group.values() for op in ops):
            await self._record(ctx, op, outcome[op.id], tally, summary)

    async def _execute(
        self,
        ctx: OpContext,
        op: sync_repo.ClaimedOp,
        tally: _Tally,
        summary: PassSummary,
        plan: push.Plan | None = None,
    ) -> None:
        self._status_to("running")
        if op.kind == PUSH_LINE:
            result = await push.run(ctx, op, plan)
        else:
            result = await EXECUTORS[op.kind](ctx, op)
        await self._record(ctx, op, result, tally, summary)

    async def _record(
        self,
        ctx: OpContext,
        op: sync_repo.ClaimedOp,
        result: Result,
        tally: _Tally,
        summary: PassSummary,
    ) -> None:
        await self._settle(ctx, op, result)
        if result.settled:
            tally.step()
            if op.kind == PUSH_LINE and result.status is not Status.SUPERSEDED:
                summary.pushed += 1
            elif op.kind == FINALIZE_INVOICE and result.status is not Status.SUPERSEDED:
                summary.finalized += 1
            elif op.kind == CREATE_INVOICE:
                summary.invoices_created += 1
        elif result.status is Status.ATTENTION:
            tally.step()
            summary.attention.append(f"{op.kind} {op.key}: {result.message}")

    async def _settle(self, ctx: OpContext, op: sync_repo.ClaimedOp, result: Result) -> None:
        """Record every outcome the executor did not commit itself."""
        status = result.status
        if status in (Status.DONE, Status.ADOPTED, Status.LOST):
            return
        now = self.clock.now()
        # A finalization's "blocked" mark lasts only as long as the blocker.
        unblock: dict[str, Any] | None = {"blocked": None} if op.kind == FINALIZE_INVOICE else None
        state, error, next_at, payload = PENDING, result.message, None, unblock
        if status is Status.SUPERSEDED:
            state, error = SUPERSEDED, None
        elif status is Status.ATTENTION:
            state = NEEDS_ATTENTION
            self.stats.error("", "permanent", result.message or "", op.id, op.customer_id)
        elif status is Status.RETRY:
            next_at = ctx.backoff(op.attempts + 1)
        elif status is Status.WAIT:
            next_at = result.at or now + self.config.defer
        elif status is Status.NOT_DUE:
            next_at, error = result.at, None
        elif status is Status.BLOCKED:
            next_at, error = now + self.config.blocked_recheck, None
            payload = {"blocked": result.message}

        def record(s: Session) -> None:
            kept = sync_repo.finish(
                s,
                op.id,
                self.worker_id,
                now,
                state=state,
                error=error,
                next_attempt_at=next_at,
                payload_update=payload,
            )
            if not kept:
                return
            if status is Status.ATTENTION:
                append_audit(
                    s,
                    self.actor,
                    "sync.needs_attention",
                    f"outbox:{op.id}",
                    {"state": CLAIMED, "kind": op.kind, "key": op.key},
                    {"state": NEEDS_ATTENTION},
                    reason=result.message,
                )
                if op.line_id is not None:
                    sync_repo.record_line_attention(s, op.line_id)
            if status is Status.BLOCKED:
                sync_repo.update_period_invoice(
                    s,
                    op.customer_id,
                    str(op.payload["period"]),
                    now,
                    blocked_reason=result.message,
                )

        await ctx.recorder.run(record)

    async def _drain(self, running: set[asyncio.Task[None]]) -> None:
        """Let running operations settle (briefly), then cancel what is left: a cancelled
        request is simply sent again later under the same key."""
        if not running:
            return
        done, pending = await asyncio.wait(running, timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, StripeKeyRejected):
                raise error

    def _release(self) -> None:
        with UnitOfWork(self.store, write=True) as uow:
            sync_repo.release_all(uow.session, self.worker_id)
            uow.commit()

    def _finish_summary(self, summary: PassSummary, customer: str | None) -> None:
        now = self.clock.now()
        with UnitOfWork(self.store) as uow:
            depth = sync_repo.outbox_depth(uow.session, now, customer)
            summary.pending, _ = sync_repo.retrying(uow.session, now, customer)
        summary.needs_attention = depth.needs_attention
        summary.blocked = depth.blocked

    # Heartbeat: budget share, liveness, outbox leases, statistics

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = self.config.heartbeat.total_seconds()
        while not stop.is_set():
            await _first_of(asyncio.sleep(interval), stop, None)
            await self._beat()

    async def _beat(self) -> None:
        """Heartbeat: renew this worker's share of the budget (a transaction of its own, so it
        never waits behind a group commit), and, through the group commit, its row, its
        outbox leases and the statistics gathered since the last one."""
        now = self.clock.now()
        state, detail = self._status
        stats = self.stats.take()  # taken here, on the loop: only the loop touches them
        calls_per_s = self.stats.calls_per_second()

        def beat(s: Session) -> None:
            sync_repo.heartbeat(
                s,
                self.worker_id,
                now,
                self.config.heartbeat * 5,
                host=socket.gethostname(),
                pid=os.getpid(),
                status=state,
                detail=detail,
                calls_per_s=calls_per_s,
            )
            sync_repo.renew_leases(s, self.worker_id, now, self.config.lease)
            stats.write(s)

        await asyncio.gather(self._lease.renew(), self._recorder.run(beat))

    async def _flush(self) -> None:
        await self._recorder.run(self.stats.take().write)

    async def _sign_off(self, reason: str | None) -> None:
        await self._lease.release()
        stats, now = self.stats.take(), self.clock.now()

        def sign_off(s: Session) -> None:
            sync_repo.release_all(s, self.worker_id)
            stats.write(s)
            sync_repo.sign_off(s, self.worker_id, now, "stopped", reason)

        await self._recorder.run(sign_off)

    def _report_progress(self, done: int, total: int) -> None:
        if self._on_progress is not None:
            self._on_progress(Progress(done, total, self.stats.calls_per_second()))


class _Tally:
    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        self.done = 0
        self.total = total
        self.progress = False
        self._report = report
        report(0, total)

    def step(self) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        self.progress = True
        self._report(self.done, self.total)


def _rollup_groups(
    chains: dict[int | None, list[sync_repo.ClaimedOp]], plans: dict[int, push.Plan]
) -> dict[str, dict[str, list[sync_repo.ClaimedOp]]]:
    """The lines whose period rolls up, by period and group, with all their claimed pushes."""
    groups: dict[str, dict[str, list[sync_repo.ClaimedOp]]] = defaultdict(lambda: defaultdict(list))
    for line_ops in chains.values():
        plan = plans.get(line_ops[0].id)
        if isinstance(plan, dict) and plan.get("action") == "rollup":
            groups[str(plan["period"])][str(plan["group"])].extend(line_ops)
            for op in line_ops:
                plans.pop(op.id, None)
    return groups


def _by_customer(ops: list[sync_repo.ClaimedOp]) -> dict[str, list[sync_repo.ClaimedOp]]:
    out: dict[str, list[sync_repo.ClaimedOp]] = defaultdict(list)
    for op in ops:
        out[op.customer_id].append(op)
    return out


async def _wait_any(
    tasks: set[asyncio.Task[None]], stop: asyncio.Event
) -> tuple[set[asyncio.Task[None]], set[asyncio.Task[None]]]:
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    finished = {t for t in tasks if t in done}
    return finished, tasks - finished


async def _first_of(
    awaitable: Awaitable[T], stop: asyncio.Event, timeout: float | None
) -> T | None:
    """`awaitable`'s result, or None if `stop` is set or `timeout` passes first."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    return None

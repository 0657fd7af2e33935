"""Corrections and the audit trail at size, each figure beside a baseline measured in the same run.

1. One correction to a customer's draft (propose -> lead approves -> applied), per kind:
   - Stripe calls to bring the draft in line (target: at most 2), against re-pushing every line
     of the invoice (what a full resync would send);
   - the time until another connection to the store (another desk) sees the change (target:
     under 1 s), against a bare one-row UPDATE committed and read the same way.
2. The audit view and the approvals queue over N audit rows (full: 1,000,000; smoke: 20,000)
   and N/10 corrections: first page (target: under 50 ms), against the same page without its
   index (a full scan and sort), a deep page by OFFSET, and a queue filtered in Python.

Run: BILLING_DESK_BENCH_SIZE=smoke|full pytest tests/benchmarks/test_corrections_bench.py -s
(with BILLING_DESK_TEST_PG set, each runs on PostgreSQL too).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from billing_desk.domain.audit import GENESIS_HASH, AuditEntry, row_hash
from billing_desk.domain.corrections import AWAITING_DECISION, Kind, Status
from billing_desk.services import audit as audit_svc
from billing_desk.services import corrections as svc
from billing_desk.services import finalization_gate
from billing_desk.store.engine import create_store_engine
from billing_desk.store.models import Line
from billing_desk.store.models.corrections import Correction
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.types import utc_text
from billing_desk.store.uow import UnitOfWork
from tests.integration.test_corrections_stripe import Desk

# Filling a million chained rows (each checked by the chain trigger) takes minutes.
pytestmark = pytest.mark.timeout(3600)
SIZES = {"smoke": 20_000, "full": 1_000_000}
PAGE = 50
REPEAT = 15
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def median_ms(call: Callable[[], object], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def fill_audit(engine: Engine, n: int, batch: int = 20_000) -> None:
    """N chained rows, hashed exactly as append_audit hashes them, inserted in bulk."""
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = (
        "INSERT INTO audit_log (seq, at, actor, action, subject, before, after, reason, "
        f"prev_hash, hash) VALUES ({', '.join([mark] * 10)})"
    )
    prev = GENESIS_HASH
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        for start in range(1, n + 1, batch):
            rows = []
            for seq in range(start, min(start + batch, n + 1)):
                at = T0 + timedelta(seconds=seq)
                entry = AuditEntry(
                    at,
                    f"agent{seq % 40}",
                    "correction.applied",
                    f"correction:{seq // 3}",
                    '{"status":"approved"}',
                    '{"status":"applied"}',
                    None,
                )
                digest = row_hash(seq, entry, prev)
                rows.append(
                    (
                        seq,
                        utc_text(at) if sqlite else at,
                        entry.actor,
                        entry.action,
                        entry.subject,
                        entry.before,
                        entry.after,
                        None,
                        prev,
                        digest,
                    )
                )
                prev = digest
            cursor.executemany(sql, rows)
        cursor.close()


def fill_corrections(engine: Engine, n: int) -> None:
    """N corrections on 100 customers' invoices, 1 in 20 awaiting a lead."""
    sqlite = engine.dialect.name == "sqlite"
    stamp: Any = utc_text(T0) if sqlite else T0
    mark = "?" if sqlite else "%s"
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        cursor.executemany(
            "INSERT INTO customers (id, name, email, currency, balance, flags, created_at, "
            f"updated_at) VALUES ({mark}, 'x', 'x@example.com', 'usd', 0, '{{}}', {mark}, {mark})",
            [(f"b{c:03d}", stamp, stamp) for c in range(100)],
        )
        cursor.executemany(
            "INSERT INTO period_invoices (customer_id, period, currency, status, due_at, "
            f"created_at, updated_at) VALUES ({mark}, '2026-01', 'usd', 'draft', {mark}, "
            f"{mark}, {mark})",
            [
                (f"b{c:03d}", utc_text(T0 + timedelta(hours=c)) if sqlite else T0, stamp, stamp)
                for c in range(100)
            ],
        )
        rows = []
        for i in range(n):
            status = "pending_approval" if i % 20 == 0 else "applied"
            rows.append(
                (f"b{i % 100:03d}", f"invoice:{i}", 1_000 + i, -1_000 - i, stamp, status, stamp)
            )
        cursor.executemany(
            "INSERT INTO corrections (customer_id, period, kind, target_key, amount, reason, "
            "currency, invoice_status, impact, total_before, total_after, requested_by, "
            "requested_at, status, status_at, status_by) VALUES "
            f"({mark}, '2026-01', 'credit', {mark}, {mark}, 'goodwill', 'usd', 'draft', {mark}, "
            f"0, 0, 'ann', {mark}, {mark}, {mark}, 'ann')",
            rows,
        )
        cursor.close()


def test_audit_view_and_approvals_queue_first_page(engine: Engine, bench_size: str) -> None:
    n = SIZES[bench_size]
    started = time.perf_counter()
    fill_audit(engine, n)
    fill_corrections(engine, n // 10)
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: statistics, and the visibility map that lets
        # the queue's partial index answer without reading the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE audit_log, corrections, period_invoices"))
    fill_s = time.perf_counter() - started
    cols = "seq, at, actor, action, subject, before, after, reason"
    depth = n // 2

    def run(sql: str) -> Callable[[], object]:
        def call() -> object:
            with engine.connect() as conn:
                return conn.execute(text(sql)).all()

        return call

    def ours_first() -> object:
        with UnitOfWork(engine) as uow:
            return audit_svc.page(uow, limit=PAGE)

    def ours_deep() -> object:
        with UnitOfWork(engine) as uow:
            return audit_svc.page(uow, limit=PAGE, before_seq=n - depth)

    def queue() -> object:
        with UnitOfWork(engine) as uow:
            return finalization_gate.approvals_queue(uow, limit=PAGE, now=T0)

    def naive_queue() -> object:
        with UnitOfWork(engine) as uow:
            everything = uow.session.scalars(select(Correction)).all()
            waiting = [c for c in everything if Status(c.status) in AWAITING_DECISION]
            return sorted(waiting, key=lambda c: c.id)[:PAGE]

    assert len(queue()) == PAGE  # type: ignore[arg-type]
    figures = [
        (
            "audit view, first page",
            ours_first,
            run(f"SELECT {cols} FROM audit_log ORDER BY seq + 0 DESC LIMIT {PAGE + 1}"),
            "same page, no index (scan + sort)",
        ),
        (
            f"audit view, page at row {depth:,}",
            ours_deep,
            run(f"SELECT {cols} FROM audit_log ORDER BY seq DESC LIMIT {PAGE} OFFSET {depth}"),
            "same page by OFFSET",
        ),
        ("approvals queue, first page", queue, naive_queue, "all corrections, filtered in Python"),
    ]
    rows = []
    for label, ours, baseline, how in figures:
        mine, theirs = median_ms(ours), median_ms(baseline, repeat=3)
        target = "yes" if mine < 50 else "NO"
        rows.append((label, f"{mine:.2f}", target, how, f"{theirs:.2f}", f"{theirs / mine:.0f}x"))
    table(
        f"[{engine.dialect.name}] {n:,} audit rows, {n // 10:,} corrections "
        f"(filled in {fill_s:.1f} s); median of {REPEAT}",
        ("query", "ms", "<50 ms", "baseline", "baseline ms", "ratio"),
        rows,
    )


KINDS: list[tuple[Kind, dict[str, object]]] = [
    (Kind.ADJUST, {"amount": 50}),
    (Kind.VOID, {}),
    (Kind.CREDIT, {"amount": 100}),
    (Kind.ONE_OFF, {"amount": 1_999, "description": "Setup fee"}),
]
LINES = 20


def test_one_correction_to_a_draft(engine: Engine, stripe_sandbox: Any, db_url: str) -> None:
    desk = Desk(engine, stripe_sandbox, timedelta(days=1), lines=LINES)
    with UnitOfWork(engine, write=True) as uow:
        # Every kind waits for a lead here, so each goes the whole way: propose, approve, apply.
        audit_svc.change_setting(uow, "ada", "limits", {"agent": {"*": "0"}, "lead": {"*": "1"}})
    other_desk = create_store_engine(db_url)
    rows = []
    try:
        for i, (kind, options) in enumerate(KINDS):
            if kind in (Kind.ADJUST, Kind.VOID):
                options = {**options, "line_id": desk.lines[i]}
            start = time.perf_counter()
            pending = desk.propose("ann", kind, **options)
            with UnitOfWork(engine, write=True) as uow:
                svc.approve(uow, "lee", pending.id)
            with UnitOfWork(engine, write=True) as uow:
                (done,) = svc.apply_approved(uow, "lee", correction_id=pending.id)
            while not _seen_applied(other_desk, pending.id):
                time.sleep(0.0005)
            latency_ms = (time.perf_counter() - start) * 1000
            assert done.status is Status.APPLIED
            calls = desk.run(customer=desk.customer).api_calls
            assert calls <= 2
            assert desk.stripe_invoice().total == desk.local_total()
            rows.append((kind.value, calls, latency_ms))
        baseline_calls = _full_resync_calls(desk)
        baseline_ms = _bare_update_ms(engine, other_desk, desk.lines[-1])
    finally:
        other_desk.dispose()
    table(
        f"[{engine.dialect.name}] one correction to a draft of {LINES} lines "
        "(propose -> approve -> apply -> seen by another connection)",
        (
            "kind",
            "Stripe calls",
            "baseline calls",
            "calls ratio",
            "visible after ms",
            "baseline ms",
            "latency ratio",
        ),
        [
            (
                k,
                c,
                baseline_calls,
                f"{baseline_calls / max(c, 1):.0f}x fewer",
                f"{ms:.1f}",
                f"{baseline_ms:.1f}",
                f"{ms / baseline_ms:.1f}x",
            )
            for k, c, ms in rows
        ],
    )


def _seen_applied(other: Engine, correction_id: int) -> bool:
    """Another desk sees the correction applied and its line at the new amount."""
    with UnitOfWork(other) as uow:
        c = uow.session.get(Correction, correction_id)
        if c is None or c.status != Status.APPLIED.value:
            return False
        line = uow.session.get(Line, c.created_line_id or c.line_id)
        return line is not None and line.amount == c.line_amount_after


def _full_resync_calls(desk: Desk) -> int:
    """Baseline: every line of the invoice pushed again (a full resync), in Stripe calls."""
    with UnitOfWork(desk.engine, write=True) as uow:
        changes = []
        for line in uow.session.scalars(select(Line).where(Line.customer_id == desk.customer)):
            if line.voided:
                continue
            line.version += 1
            line.amount += 1
            line.sync_state = "pending"
            changes.append(LineChange(line.id, line.customer_id, line.version))
        uow.session.flush()
        queue_line_pushes(uow.session, changes)
        uow.commit()
    return desk.run(customer=desk.customer).api_calls


def _bare_update_ms(engine: Engine, other: Engine, line_id: int) -> float:
    """Baseline: one UPDATE committed, then read back from another connection."""

    def once() -> None:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE lines SET version = version + 1 WHERE id = :id"), {"id": line_id}
            )
        with other.connect() as conn:
            conn.execute(text("SELECT version FROM lines WHERE id = :id"), {"id": line_id}).one()

    return median_ms(once)

"""The store reads behind the sync panel (no service offers them as one read yet): the outbox
depth, Stripe calls per hour over the last day, and the operations needing attention.

Plain reads over an Engine, called off the UI thread; nothing here writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from billing_desk.store import sync_repo
from billing_desk.store.models import Line, OutboxOperation
from billing_desk.store.models.sync import SyncApiCalls
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.sync_ops import (
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    CREDIT_NOTE,
    FINALIZE_INVOICE,
    NEEDS_ATTENTION,
    PUSH_LINE,
    VOID_INVOICE,
)
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.sync_panel_chart import HourCalls
from billing_desk.ui.sync_panel_model import AttentionItem, SyncFigures

HOURS_SHOWN = 24
ATTENTION_SHOWN = 500

_OPERATION_NAMES = {
    PUSH_LINE: "push line",
    CREATE_CUSTOMER: "create the Stripe customer",
    CREATE_INVOICE: "create the invoice",
    FINALIZE_INVOICE: "finalize the invoice",
    CREDIT_NOTE: "issue a credit note",
    VOID_INVOICE: "void the invoice",
}


def operation_name(kind: str, line_id: int | None, period: str | None) -> str:
    name = _OPERATION_NAMES.get(kind, kind.replace("_", " "))
    if kind == PUSH_LINE and line_id is not None:
        name = f"{name} {line_id}"
    return f"{name} ({period})" if period else name


def read_sync_figures(
    engine: Engine, *, live: bool = False, now: datetime | None = None
) -> SyncFigures:
    """What the panel shows besides the worker's own state; `live` picks the live-key budget."""
    now = now or datetime.now(UTC)
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS_SHOWN - 1)
    with UnitOfWork(engine) as uow:
        session = uow.session
        depth = sync_repo.outbox_depth(session)
        settings = load_settings(session)
        per_hour = session.execute(
            select(
                SyncApiCalls.hour,
                func.sum(SyncApiCalls.calls),
                func.sum(SyncApiCalls.errors),
            )
            .where(SyncApiCalls.hour >= since)
            .group_by(SyncApiCalls.hour)
            .order_by(SyncApiCalls.hour)
        ).all()
        attention = session.execute(
            select(OutboxOperation, Line.period)
            .outerjoin(Line, Line.id == OutboxOperation.line_id)
            .where(OutboxOperation.state == NEEDS_ATTENTION)
            .order_by(OutboxOperation.last_attempt_at.desc(), OutboxOperation.id.desc())
            .limit(ATTENTION_SHOWN)
        ).all()
        items = tuple(
            AttentionItem(
                operation_id=op.id,
                customer_id=op.customer_id,
                operation=operation_name(
                    op.kind, op.line_id, line_period or _payload_period(op.payload)
                ),
                attempts=op.attempts,
                error=op.last_error or "no message from Stripe",
                since=op.last_attempt_at or op.created_at,
                period=line_period or _payload_period(op.payload),
            )
            for op, line_period in attention
        )
    rate = settings.rate_limit_live if live else settings.rate_limit_test
    return SyncFigures(
        outbox_depth=depth.queued,
        attention=items,
        hours=_every_hour(since, HOURS_SHOWN, {h: (int(c), int(e)) for h, c, e in per_hour}),
        budget_per_hour=int(rate * 3600),
        read_at=now,
    )


def _payload_period(payload: object) -> str | None:
    if isinstance(payload, dict):
        period = payload.get("period")
        return period if isinstance(period, str) else None
    return None


def _every_hour(
    since: datetime, hours: int, counts: dict[datetime, tuple[int, int]]
) -> tuple[HourCalls, ...]:
    """One bar per hour, quiet hours included, so the chart's time axis is even."""
    out = []
    for i in range(hours):
        hour = since + timedelta(hours=i)
        calls, failed = counts.get(hour, (0, 0))
        out.append(HourCalls(hour, calls, failed))
    return tuple(out)

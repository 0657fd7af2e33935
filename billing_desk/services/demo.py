"""The demo workspace's local side: a store that matches the sandbox's demo account.

The sandbox's `--seed demo` account has 42 customers with three months of invoices in every
state. Here the local store gets the same customers (same ids, names, emails, currencies and
Stripe ids) and, for every invoice item the pull cached, the usage that compiles to it (daily
increments this month, every third day before, summing to its quantity), linked to its Stripe
item as the push engine leaves a pushed line. So most customers are in sync, as on a real desk;
then a handful are given something to look at (see `ROLES`), through the same services an agent
or the usage platform would use. The Stripe-side edits and the pulls are made by
`billing_desk.ui.demo`.

Everything is a pure function of the customer's index and the clock, so two demo runs look alike.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from billing_desk.domain.corrections import Kind, Proposal, Reason
from billing_desk.services import corrections, staff
from billing_desk.services.customers import import_customers
from billing_desk.services.ingest import Source, ingest
from billing_desk.store.models import Line, OutboxOperation
from billing_desk.store.models.stripe_cache import StripeInvoiceCache, StripeInvoiceItemCache
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.sync_repo import record_line_pushed
from billing_desk.store.uow import UnitOfWork

# A new write unit of work: each step commits on its own, like separate people acting.
NewUow = Callable[[], UnitOfWork]

PLATFORM = "usage-platform"
DEMO_ADMIN = "demo.admin"
DEMO_AGENT = "sam.agent"
# A customer deleted in the Stripe Dashboard: pushing its usage fails for good.
DELETED = {
    "id": "quill-043",
    "name": "Quillon Games",
    "email": "billing@quillongames.example",
    "currency": "usd",
    "stripe_customer_id": "cus_DeletedInDashboard",
}

# What a customer (by its index in the sandbox's list) shows beyond being in sync.
ROLES: dict[int, str] = {
    # Every kind of difference on one draft (the screen the demo opens on): its largest item
    # edited and an item added in the Dashboard, usage after the push, a brand-new item.
    1: "showcase",
    31: "amount differs",  # its draft's largest item edited in the Dashboard
    5: "only in Stripe",  # an item added by hand in the Dashboard
    7: "waiting to push",  # usage arrived after the last push
    11: "waiting to push",
    17: "only local",  # a new item, not pushed yet
    4: "pending approval",  # an agent's credit above the agent's limit
    10: "pending approval",
    19: "hold",  # finalization held by the lead
    25: "draft due soon",  # the draft finalizes in under three hours
    23: "big line",  # usage every five minutes: a long drill-down
    42: "sync error",  # DELETED
}
DRAFT_DUE_SOON = timedelta(hours=2, minutes=40)
DRAFT_DUE = timedelta(hours=20)


@dataclass(frozen=True)
class DemoCustomer:
    index: int
    id: str
    name: str
    email: str
    currency: str
    stripe_customer_id: str | None

    @property
    def role(self) -> str:
        return ROLES.get(self.index, "in sync")


def demo_customers(paired: Sequence[Mapping[str, Any]]) -> list[DemoCustomer]:
    """The sandbox's demo customers (`billing_desk.sandbox.demo_customers()`), plus the one
    deleted in Stripe."""
    return [
        DemoCustomer(
            i,
            str(c["id"]),
            str(c["name"]),
            str(c["email"]),
            str(c["currency"]),
            c.get("stripe_customer_id"),
        )
        for i, c in enumerate([*paired, DELETED])
    ]


def by_role(customers: Iterable[DemoCustomer], role: str) -> list[DemoCustomer]:
    return [c for c in customers if c.role == role]


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def _period_start(period: str) -> datetime:
    year, month = (int(p) for p in period.split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def _period_days(period: str, now: datetime) -> int:
    start = _period_start(period)
    end = (start + timedelta(days=32)).replace(day=1)
    return max(1, (min(end, now) - start).days)


def _mix(value: int, salt: int) -> int:
    """splitmix64: deterministic, well-spread numbers for believable usage."""
    z = (value * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return z ^ (z >> 31)


def item_code(description: str) -> str:
    """The ledger's item code for a Stripe item's description: "API requests" -> "api.requests"."""
    words = re.findall(r"[a-z0-9]+", description.lower())
    return ".".join(words)[:128] or "item"


def _source(rows: Iterable[dict[str, Any]], name: str) -> Source:
    data = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode()
    return Source(name, io.BytesIO(data), len(data))


def _checked(summary: Any, what: str) -> None:
    if getattr(summary, "rejected", 0):
        raise RuntimeError(f"the demo's {what} were refused ({summary.rejected} rows)")


def seed_customers(uow: UnitOfWork, customers: Sequence[DemoCustomer]) -> None:
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "email": c.email,
            "currency": c.currency,
            **({"stripe_customer_id": c.stripe_customer_id} if c.stripe_customer_id else {}),
        }
        for c in customers
    ]
    _checked(import_customers(uow, [_source(rows, "demo-customers.jsonl")]), "customers")


# Mirroring the Stripe side


@dataclass(frozen=True)
class _Mirrored:
    customer: DemoCustomer
    period: str
    item_id: str
    code: str
    description: str
    quantity: Decimal
    unit_amount: Decimal


def _spread(total: Decimal, parts: int, salt: int) -> list[Decimal]:
    """`total` split into `parts` positive-ish, uneven, exact pieces (whole units when whole)."""
    weights = [1 + _mix(k, salt) % 5 for k in range(parts)]
    scale = sum(weights)
    pieces = [(total * w / scale).to_integral_value(rounding="ROUND_FLOOR") for w in weights]
    pieces[-1] += total - sum(pieces)
    return pieces


def _increments(m: _Mirrored, now: datetime) -> Iterator[dict[str, Any]]:
    start = _period_start(m.period)
    days = _period_days(m.period, now)
    # Daily usage this month (every five minutes on the "big line"); every third day before,
    # which keeps the demo quick to build.
    this_month = m.period == period_of(now)
    per_day: float = 1.0 if this_month else 1 / 3
    if this_month and m.customer.role == "big line" and m.code.startswith("api"):
        per_day = 24 * 12
    slots = max(1, int(days * per_day))
    step = timedelta(days=days) / slots
    for k, quantity in enumerate(_spread(m.quantity, slots, _mix(m.customer.index, len(m.code)))):
        if quantity <= 0:
            continue
        yield {
            "event_id": f"demo-{m.item_id}-{k}",
            "customer": m.customer.id,
            "item": m.code,
            "description": m.description,
            "quantity": format(quantity, "f"),
            "unit_amount": format(m.unit_amount.normalize(), "f"),
            "currency": m.customer.currency,
            "occurred_at": (start + k * step + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def mirror_stripe_items(
    new_uow: NewUow, customers: Sequence[DemoCustomer], current: str, now: datetime
) -> int:
    """Usage for every cached Stripe item of the demo customers, linked to its item as pushed.

    Items on an invoice belong to the invoice's period; pending items to `current`. Items
    without a whole quantity and unit price (hand-made amounts) are left to Stripe alone.
    Returns how many lines now mirror an item.
    """
    local = {c.stripe_customer_id: c for c in customers if c.stripe_customer_id}
    with new_uow() as uow:
        s = uow.session
        periods = dict(
            s.execute(
                select(StripeInvoiceCache.id, StripeInvoiceCache.period).where(
                    StripeInvoiceCache.stripe_customer.in_(list(local))
                )
            ).all()
        )
        items = s.scalars(
            select(StripeInvoiceItemCache)
            .where(
                StripeInvoiceItemCache.stripe_customer.in_(list(local)),
                StripeInvoiceItemCache.deleted.is_(False),
            )
            .order_by(StripeInvoiceItemCache.id)
        ).all()
        mirrored = [
            _Mirrored(
                local[item.stripe_customer],
                current if item.invoice is None else str(periods.get(item.invoice) or current),
                item.id,
                item_code(item.description or "item"),
                item.description or "Usage",
                item.quantity,
                item.unit_amount,
            )
            for item in items
            if item.quantity is not None and item.unit_amount is not None and item.amount > 0
        ]
    rows = (row for m in mirrored for row in _increments(m, now))
    with new_uow() as uow:
        _checked(ingest(uow, [_source(rows, "demo-usage.jsonl")], actor=PLATFORM), "usage")
    with new_uow() as uow:
        s = uow.session
        lines = {
            (line.customer_id, line.period, line.item, line.unit_amount): line
            for line in s.scalars(
                select(Line).where(Line.customer_id.in_([c.id for c in customers]))
            )
        }
        linked = []
        for m in mirrored:
            line = lines[(m.customer.id, m.period, m.code, m.unit_amount)]
            record_line_pushed(s, line.id, line.version, m.item_id, now)
            linked.append(line.id)
        # Already in Stripe: the pushes ingest queued for these lines have nothing left to do.
        queued = s.scalars(
            select(OutboxOperation).where(
                OutboxOperation.line_id.in_(linked), OutboxOperation.state == "pending"
            )
        )
        for op in queued:
            op.state, op.done_at = "superseded", now
        uow.commit()
    return len(mirrored)


def track_drafts(new_uow: NewUow, customers: Sequence[DemoCustomer], now: datetime) -> None:
    """The current period's drafts, recorded as the close leaves them: each due to finalize
    in DRAFT_DUE, the "draft due soon" customer's in DRAFT_DUE_SOON."""
    by_stripe = {c.stripe_customer_id: c for c in customers if c.stripe_customer_id}
    with new_uow() as uow:
        s = uow.session
        drafts = s.scalars(
            select(StripeInvoiceCache).where(
                StripeInvoiceCache.stripe_customer.in_(list(by_stripe)),
                StripeInvoiceCache.status == "draft",
                StripeInvoiceCache.period == period_of(now),
            )
        ).all()
        for draft in drafts:
            customer = by_stripe[draft.stripe_customer]
            due = DRAFT_DUE_SOON if customer.role == "draft due soon" else DRAFT_DUE
            s.add(
                PeriodInvoice(
                    customer_id=customer.id,
                    period=str(draft.period),
                    currency=draft.currency,
                    stripe_invoice_id=draft.id,
                    status="draft",
                    due_at=now + due,
                    total=draft.total,
                    created_at=now,
                    updated_at=now,
                )
            )
        uow.commit()


# What happened after the last push


def seed_late_usage(
    new_uow: NewUow, customers: Sequence[DemoCustomer], current: str, now: datetime
) -> None:
    """More usage on existing lines (waiting to push), a brand-new item (only local), and the
    usage of the customer deleted in Stripe (its push will fail)."""
    with new_uow() as uow:
        lines = list(
            uow.session.scalars(
                select(Line).where(
                    Line.customer_id.in_([c.id for c in by_role(customers, "waiting to push")]),
                    Line.period == current,
                )
            )
        )
        for c in by_role(customers, "showcase"):
            # Its smallest line only: the largest is the one edited in the Dashboard.
            smallest = uow.session.scalars(
                select(Line)
                .where(Line.customer_id == c.id, Line.period == current)
                .order_by(Line.amount)
                .limit(1)
            ).first()
            lines += [smallest] if smallest is not None else []
        more = [
            {
                "event_id": f"demo-late-{line.id}",
                "customer": line.customer_id,
                "item": line.item,
                "description": line.description,
                "quantity": format((line.quantity / 10).to_integral_value() or Decimal(1), "f"),
                "unit_amount": format(line.unit_amount.normalize(), "f"),
                "currency": line.currency,
                "occurred_at": (now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for line in lines
        ]
    start = _period_start(current) + timedelta(days=1, hours=9)
    new = [
        {
            "event_id": f"demo-new-{c.id}-{k}",
            "customer": c.id,
            "item": "webhooks.delivered",
            "description": "Webhook deliveries",
            "quantity": str(1200 + 40 * k),
            "unit_amount": "0.1",
            "currency": c.currency,
            "occurred_at": (start + timedelta(days=k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for c in [
            *by_role(customers, "only local"),
            *by_role(customers, "showcase"),
            *by_role(customers, "sync error"),
        ]
        for k in range(max(1, _period_days(current, now) - 1))
    ]
    with new_uow() as uow:
        _checked(ingest(uow, [_source([*more, *new], "demo-late.jsonl")], actor=PLATFORM), "usage")


def seed_staff(new_uow: NewUow, desk_user: str) -> None:
    """The person at the desk is a lead (they can approve); `sam.agent` proposes."""
    for login, role in ((desk_user, "lead"), (DEMO_AGENT, "agent")):
        with new_uow() as uow:
            staff.add(uow, DEMO_ADMIN, login, role)


def seed_corrections(
    new_uow: NewUow, customers: Sequence[DemoCustomer], current: str, desk_user: str
) -> None:
    """An agent's credits above the agent's limit wait for a lead; a lead holds one draft."""
    for c in by_role(customers, "pending approval"):
        with new_uow() as uow:
            corrections.propose(
                uow,
                DEMO_AGENT,
                Proposal(
                    Kind.CREDIT,
                    c.id,
                    current,
                    Reason.SERVICE_OUTAGE,
                    note="API outage on the 3rd, four hours (ticket #4821)",
                    amount=4500 + 500 * c.index,
                ),
            )
    for c in by_role(customers, "hold"):
        with new_uow() as uow:
            corrections.propose(
                uow,
                desk_user,
                Proposal(
                    Kind.HOLD,
                    c.id,
                    current,
                    Reason.CUSTOMER_DISPUTE,
                    note="Customer disputes the storage charges; waiting for their logs",
                ),
            )

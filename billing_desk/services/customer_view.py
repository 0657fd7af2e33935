"""What the GUI's customer view shows, read from the store only (cached Stripe data; instant).

`customer_view(uow, customer_id, period, mode="test")` gives the header (customer, Stripe
balance, the period's invoice status and links, when it finalizes, when Stripe data was last
fetched) and the side-by-side rows of `billing_desk.domain.reconcile` with their totals. It
never calls Stripe: the GUI shows this at once and triggers `sync.pull.pull_customer` off the UI
thread, then asks again.

Which Stripe items a period shows: the items on its invoice; and, among the customer's pending
items, those whose metadata names the period or one of its lines, plus (while the period has no
invoice yet) pending items with no Billing Desk metadata at all, e.g. added in the Dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.reconcile import (
    LocalLine,
    Reconciliation,
    Row,
    StripeLine,
    line_refs,
    reconcile,
)
from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models import Customer, Line
from billing_desk.store.models.stripe_cache import (
    StripeCreditNoteCache,
    StripeCustomerCache,
    StripeInvoiceCache,
    StripeInvoiceItemCache,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork

Mode = Literal["test", "live"]
DASHBOARD = "https://dashboard.stripe.com"
PERIOD_KEY = "billing_desk_period"


def dashboard_url(mode: Mode, kind: Literal["customers", "invoices"], object_id: str) -> str:
    """The Stripe Dashboard page of an object (test-mode pages live under /test)."""
    base = f"{DASHBOARD}/test" if mode == "test" else DASHBOARD
    return f"{base}/{kind}/{object_id}"


@dataclass(frozen=True)
class LineInfo:
    """What the side-by-side view shows of a local line beyond the reconciliation's fields."""

    kind: str
    currency: str
    sync_state: str


@dataclass(frozen=True)
class CreditNoteView:
    id: str
    number: str | None
    amount: int
    status: str
    type: str | None
    reason: str | None
    memo: str | None
    created: datetime


@dataclass(frozen=True)
class InvoiceView:
    id: str
    # draft | open | paid | void | uncollectible
    status: str
    number: str | None
    total: int
    amount_due: int
    amount_remaining: int
    starting_balance: int
    ending_balance: int | None
    hosted_invoice_url: str | None
    dashboard_url: str
    fetched_at: datetime


@dataclass(frozen=True)
class CustomerView:
    customer_id: str
    name: str
    email: str
    currency: str
    period: str
    stripe_customer_id: str | None
    customer_dashboard_url: str | None
    # Stripe's balance (minor units, negative = credit) as last fetched; None if never fetched.
    balance: int | None
    deleted_in_stripe: bool
    # The period's Stripe invoice, None when there is none (yet, or its draft was deleted).
    invoice: InvoiceView | None
    # When the draft is due to finalize: the sync engine's grace deadline, else Stripe's own.
    finalizes_at: datetime | None
    # Why a due draft is still a draft (the sync engine's words); None when nothing blocks it.
    blocked_reason: str | None
    credit_notes: tuple[CreditNoteView, ...]
    reconciliation: Reconciliation
    line_info: dict[int, LineInfo]
    # The oldest fetch among the Stripe data shown; None when nothing was ever fetched.
    fetched_at: datetime | None

    @property
    def invoice_status(self) -> str:
        """none | draft | open | paid | void | uncollectible"""
        return "none" if self.invoice is None else self.invoice.status

    @property
    def invoice_dashboard_url(self) -> str | None:
        return None if self.invoice is None else self.invoice.dashboard_url

    @property
    def hosted_invoice_url(self) -> str | None:
        return None if self.invoice is None else self.invoice.hosted_invoice_url

    @property
    def rows(self) -> tuple[Row, ...]:
        return self.reconciliation.rows

    def is_stale(self, now: datetime, max_age: timedelta) -> bool:
        """Whether the Stripe side should be marked stale (or was never fetched)."""
        return self.fetched_at is None or now - self.fetched_at > max_age


def customer_view(
    uow: UnitOfWork, customer_id: str, period: str, *, mode: Mode = "test"
) -> CustomerView:
    s = uow.session
    customer = s.get(Customer, customer_id)
    if customer is None:
        raise InvalidInput(f"no customer with id {customer_id!r}")
    # Plain columns, not entities: the view needs no identity map and no timestamps per line.
    lines = s.execute(
        select(*_LINE_COLUMNS).where(Line.customer_id == customer_id, Line.period == period)
    ).all()
    stripe_id = customer.stripe_customer_id
    cached_customer = None if stripe_id is None else s.get(StripeCustomerCache, stripe_id)
    invoice = repo.invoice_for_period(s, customer_id, period)
    if invoice is not None and invoice.deleted:
        invoice = None
    tracked = s.scalar(
        select(PeriodInvoice).where(
            PeriodInvoice.customer_id == customer_id, PeriodInvoice.period == period
        )
    )
    items, items_fetched = _stripe_items(s, stripe_id, invoice, period, {line.id for line in lines})
    notes = (
        []
        if invoice is None
        else s.scalars(
            select(StripeCreditNoteCache)
            .where(StripeCreditNoteCache.invoice == invoice.id)
            .order_by(StripeCreditNoteCache.created)
        ).all()
    )

    recon = reconcile(
        [_local(line) for line in lines],
        [
            StripeLine.from_metadata(
                item.id, item.amount, item.description or "", item.meta, item.invoice
            )
            for item in items
        ],
    )
    fetched = [
        moment
        for moment in (
            None if cached_customer is None else cached_customer.fetched_at,
            None if invoice is None else invoice.fetched_at,
            items_fetched,
        )
        if moment is not None
    ]
    return CustomerView(
        customer_id=customer.id,
        name=customer.name,
        email=customer.email,
        currency=customer.currency,
        period=period,
        stripe_customer_id=stripe_id,
        customer_dashboard_url=None
        if stripe_id is None
        else dashboard_url(mode, "customers", stripe_id),
        balance=None if cached_customer is None else cached_customer.balance,
        deleted_in_stripe=cached_customer is not None and cached_customer.deleted,
        invoice=None if invoice is None else _invoice(invoice, mode),
        finalizes_at=_finalizes_at(invoice, tracked),
        blocked_reason=None if tracked is None else tracked.blocked_reason,
        credit_notes=tuple(_credit_note(note) for note in notes),
        reconciliation=recon,
        line_info={
            line.id: LineInfo(kind=line.kind, currency=line.currency, sync_state=line.sync_state)
            for line in lines
        },
        fetched_at=min(fetched) if fetched else None,
    )


def list_periods(uow: UnitOfWork, customer_id: str) -> list[str]:
    """The customer's periods (with lines, or with a Stripe invoice), newest first."""
    s = uow.session
    local = s.scalars(select(Line.period).where(Line.customer_id == customer_id).distinct())
    invoiced = s.scalars(
        select(StripeInvoiceCache.period)
        .where(
            StripeInvoiceCache.customer_id == customer_id,
            StripeInvoiceCache.period.is_not(None),
        )
        .distinct()
    )
    return sorted({*local, *(p for p in invoiced if p is not None)}, reverse=True)


_LINE_COLUMNS = (
    Line.id,
    Line.item,
    Line.description,
    Line.quantity,
    Line.unit_amount,
    Line.amount,
    Line.version,
    Line.synced_version,
    Line.voided,
    Line.stripe_invoice_item,
    Line.kind,
    Line.currency,
    Line.sync_state,
)
_ITEM = StripeInvoiceItemCache
_ITEM_COLUMNS = (_ITEM.id, _ITEM.amount, _ITEM.description, _ITEM.meta, _ITEM.invoice)


def _stripe_items(
    s: Session,
    stripe_id: str | None,
    invoice: StripeInvoiceCache | None,
    period: str,
    line_ids: set[int],
) -> tuple[list[Any], datetime | None]:
    """The period's Stripe items, and the oldest fetch among them."""
    if stripe_id is None:
        return [], None
    live = _ITEM.deleted.is_(False)
    pending = _ITEM.invoice.is_(None)
    where = pending if invoice is None else or_(pending, _ITEM.invoice == invoice.id)
    found = s.execute(
        select(*_ITEM_COLUMNS, _ITEM.fetched_at).where(
            live, _ITEM.stripe_customer == stripe_id, where
        )
    ).all()
    shown = [
        item
        for item in found
        if item.invoice is not None or _belongs(item.meta, period, line_ids, invoice is None)
    ]
    return shown, min((item.fetched_at for item in shown), default=None)


def _belongs(metadata: dict[str, str], period: str, line_ids: set[int], period_open: bool) -> bool:
    named_period = metadata.get(PERIOD_KEY)
    refs = line_refs(metadata)
    if named_period is not None or refs:
        return named_period == period or not line_ids.isdisjoint(refs)
    # No Billing Desk metadata: added by hand; it goes on the next invoice made.
    return period_open


def _local(line: Any) -> LocalLine:
    return LocalLine(
        id=line.id,
        item=line.item,
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        amount=line.amount,
        version=line.version,
        synced_version=line.synced_version,
        voided=line.voided,
        stripe_invoice_item=line.stripe_invoice_item,
    )


def _invoice(invoice: StripeInvoiceCache, mode: Mode) -> InvoiceView:
    return InvoiceView(
        id=invoice.id,
        status=invoice.status,
        number=invoice.number,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_remaining=invoice.amount_remaining,
        starting_balance=invoice.starting_balance,
        ending_balance=invoice.ending_balance,
        hosted_invoice_url=invoice.hosted_invoice_url,
        dashboard_url=dashboard_url(mode, "invoices", invoice.id),
        fetched_at=invoice.fetched_at,
    )


def _finalizes_at(
    invoice: StripeInvoiceCache | None, tracked: PeriodInvoice | None
) -> datetime | None:
    if tracked is not None and tracked.status in ("creating", "draft"):
        return tracked.due_at
    if invoice is not None and invoice.status == "draft":
        return invoice.automatically_finalizes_at
    return None


def _credit_note(note: StripeCreditNoteCache) -> CreditNoteView:
    return CreditNoteView(
        id=note.id,
        number=note.number,
        amount=note.amount,
        status=note.status,
        type=note.type,
        reason=note.reason,
        memo=note.memo,
        created=note.created,
    )

"""Writing and reading the Stripe cache (tables in `models/stripe_cache.py`).

Writes are upserts guarded so that a snapshot never replaces a newer one: a row is only
overwritten by a fetch at least as recent (`fetched_at`), an invoice never moves back in its
life (draft -> open -> uncollectible -> paid | void), and deletions and voids are final. Two
workers pulling the same object at once therefore both succeed, and the newest state wins.

A draft deleted in Stripe (the Dashboard allows it) takes its period back to "no invoice":
`forget_deleted_drafts` removes the period's `period_invoices` row and retires the operations
that made the draft and would finalize it, so a later `close` makes a new one.

Snapshots come in as mappings keyed by column name (the gateway's snapshot dataclasses, as
dicts) plus `fetched_at`, the time that object's answer arrived; the repository adds the local
customer id and the derived columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing_desk.domain.reconcile import LINE_KEY, VERSION_KEY
from billing_desk.store.audit_repo import append_audit
from billing_desk.store.models import Customer, OutboxOperation
from billing_desk.store.models.stripe_cache import (
    StripeCreditNoteCache,
    StripeCustomerCache,
    StripeEventCursor,
    StripeInvoiceCache,
    StripeInvoiceItemCache,
    StripeProcessedEvent,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.outbox_queue import repush_period_lines
from billing_desk.store.sync_ops import CREATE_INVOICE, FINALIZE_INVOICE, SUPERSEDED

CURSOR_NAME = "events"
# Where each invoice status sits in an invoice's life; a fetch may only keep or raise it.
INVOICE_RANK = {"creating": -1, "draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
_CHUNK = 200

Row = Mapping[str, Any]


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _chunks(rows: Sequence[Row], size: int = _CHUNK) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _upsert(
    session: Session,
    model: type[Any],
    rows: Sequence[Row],
    newer: Callable[[Any, Table], ColumnElement[bool]],
    sticky: Sequence[str] = (),
) -> None:
    """Insert `rows`, or overwrite existing ones where `newer(excluded, table)` holds.

    `sticky` boolean columns, once true, stay true (a deleted object never comes back).
    Rows go in id order, so two workers writing the same objects lock them in the same order
    (no deadlock on PostgreSQL).
    """
    if not rows:
        return
    table = _table(model)
    insert = _insert(session)
    for chunk in _chunks(sorted(rows, key=lambda row: str(row["id"]))):
        stmt = insert(table).values(list(chunk))
        excluded = stmt.excluded
        set_: dict[str, Any] = {
            column.name: excluded[column.name] for column in table.columns if column.name != "id"
        }
        for name in sticky:
            set_[name] = or_(table.c[name], excluded[name])
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.id], set_=set_, where=newer(excluded, table)
        )
        session.execute(stmt)


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _locked_cursor(session: Session, fetched_at: datetime) -> StripeEventCursor:
    """The cursor row, created if missing, locked for this transaction (on PostgreSQL)."""
    stmt = _insert(session)(_table(StripeEventCursor)).values(
        name=CURSOR_NAME, fetched_at=fetched_at
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    cursor = session.get(
        StripeEventCursor, CURSOR_NAME, with_for_update=True, populate_existing=True
    )
    assert cursor is not None
    return cursor


def _fetched_later(excluded: Any, table: Table) -> ColumnElement[bool]:
    return excluded.fetched_at >= table.c.fetched_at  # type: ignore[no-any-return]


def _invoice_rank(column: Any) -> Any:
    return case(INVOICE_RANK, value=column, else_=0)


def _invoice_newer(excluded: Any, table: Table) -> ColumnElement[bool]:
    return and_(
        excluded.fetched_at >= table.c.fetched_at,
        _invoice_rank(excluded.status) >= _invoice_rank(table.c.status),
    )


def _credit_note_newer(excluded: Any, table: Table) -> ColumnElement[bool]:
    # issued -> void only.
    return and_(
        excluded.fetched_at >= table.c.fetched_at,
        or_(table.c.status != "void", excluded.status == "void"),
    )


def local_customers(session: Session, stripe_ids: Iterable[str]) -> dict[str, str]:
    """Stripe customer id -> local customer id, for the ids that belong to a local customer."""
    wanted = sorted(set(stripe_ids))
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(Customer.stripe_customer_id, Customer.id).where(
            Customer.stripe_customer_id.in_(chunk)
        )
        for stripe_id, local_id in session.execute(query):
            out[str(stripe_id)] = local_id
    return out


def _with_owner(session: Session, rows: Sequence[Row], owner_key: str) -> list[dict[str, Any]]:
    owners = local_customers(session, (row[owner_key] for row in rows))
    out: list[dict[str, Any]] = []
    for row in rows:
        value = {**row, "customer_id": owners.get(row[owner_key])}
        value["metadata"] = dict(value.get("metadata") or {})
        out.append(value)
    return out


def _as_int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) < 19 else None


# Writes -------------------------------------------------------------------------------------


def save_customers(session: Session, rows: Sequence[Row]) -> None:
    """Cache Stripe customers and copy each balance onto the local customer it belongs to."""
    if not rows:
        return
    values = _with_owner(session, rows, "id")
    _upsert(session, StripeCustomerCache, values, _fetched_later, sticky=("deleted",))
    # A deleted customer's stub has no balance: the local one keeps the last known.
    ids = [row["id"] for row in rows if not row["deleted"]]
    cached = (
        select(StripeCustomerCache.balance)
        .where(StripeCustomerCache.id == Customer.stripe_customer_id)
        .scalar_subquery()
    )
    session.execute(
        update(Customer)
        .where(Customer.stripe_customer_id.in_(ids), Customer.balance != cached)
        .values(balance=cached)
        .execution_options(synchronize_session=False)
    )
    gone = [row["id"] for row in rows if row["deleted"]]
    for customer in session.scalars(select(Customer).where(Customer.stripe_customer_id.in_(gone))):
        if not customer.flags.get("deleted_in_stripe"):
            customer.flags = {**customer.flags, "deleted_in_stripe": True}


def save_invoices(session: Session, rows: Sequence[Row]) -> list[str]:
    """Cache invoices; move the sync engine's per-period status forward to match.

    Returns the ids of the invoices whose `period_invoices` status changed.
    """
    if not rows:
        return []
    values = _with_owner(session, rows, "stripe_customer")
    for value in values:
        value["deleted"] = False
    _upsert(session, StripeInvoiceCache, values, _invoice_newer, sticky=("deleted",))
    return _advance_period_invoices(session, [row["id"] for row in rows])


def _advance_period_invoices(session: Session, invoice_ids: Sequence[str]) -> list[str]:
    moved: list[str] = []
    for start in range(0, len(invoice_ids), 500):
        chunk = invoice_ids[start : start + 500]
        pairs = session.execute(
            select(PeriodInvoice, StripeInvoiceCache)
            .join(StripeInvoiceCache, StripeInvoiceCache.id == PeriodInvoice.stripe_invoice_id)
            .where(PeriodInvoice.stripe_invoice_id.in_(chunk))
        )
        for local, cached in pairs:
            changed = False
            if INVOICE_RANK.get(cached.status, 0) > INVOICE_RANK.get(local.status, 0):
                local.status = cached.status
                moved.append(cached.id)
                changed = True
            if local.total != cached.total and local.status == cached.status:
                local.total = cached.total
                changed = True
            if local.finalized_at is None and cached.finalized_at is not None:
                local.finalized_at = cached.finalized_at
                changed = True
            if changed:
                local.updated_at = cached.fetched_at
    return moved


def forget_deleted_drafts(
    session: Session, invoice_ids: Iterable[str], now: datetime | None = None
) -> list[tuple[str, str]]:
    """Invoices Stripe no longer has that were a period's draft: the period has no invoice now.

    Its `period_invoices` row goes (the desk shows no invoice; `close` may make a new one) and
    the operations that created the draft and would finalize it are retired (superseded): a
    finalization must not wait on an invoice that is gone, and their keys are spent (Stripe
    would replay the deleted draft for them). Audited. Returns the (customer, period) pairs.
    """
    wanted = sorted(set(invoice_ids))
    if not wanted:
        return []
    drafts = session.scalars(
        select(PeriodInvoice)
        .where(
            PeriodInvoice.stripe_invoice_id.in_(wanted),
            # Only a draft can be deleted in Stripe; a later status is never undone here.
            PeriodInvoice.status.in_(("creating", "draft")),
        )
        .order_by(PeriodInvoice.id)
    ).all()
    forgotten: list[tuple[str, str]] = []
    for draft in drafts:
        _retire_invoice_operations(session, draft.customer_id, draft.period)
        append_audit(
            session,
            "stripe",
            "invoice.deleted_in_stripe",
            f"invoice:{draft.customer_id}:{draft.period}",
            {"stripe_invoice_id": draft.stripe_invoice_id, "status": draft.status},
            None,
            "the draft was deleted in Stripe; closing the period again makes a new one",
        )
        forgotten.append((draft.customer_id, draft.period))
        session.delete(draft)
        repush_period_lines(session, draft.customer_id, draft.period, now or datetime.now(UTC))
    session.flush()
    return forgotten


def _retire_invoice_operations(session: Session, customer_id: str, period: str) -> None:
    ops = session.scalars(
        select(OutboxOperation).where(
            OutboxOperation.customer_id == customer_id,
            OutboxOperation.kind.in_((CREATE_INVOICE, FINALIZE_INVOICE)),
            OutboxOperation.state != SUPERSEDED,
        )
    )
    for op in ops:
        if op.payload.get("period") != period:
            continue
        op.state = SUPERSEDED
        op.lease_owner = op.lease_expires_at = op.next_attempt_at = None
        op.last_error = f"the {period} draft was deleted in Stripe"


def save_invoice_items(session: Session, rows: Sequence[Row]) -> None:
    if not rows:
        return
    values = _with_owner(session, rows, "stripe_customer")
    for value in values:
        metadata = value["metadata"]
        value["line_id"] = _as_int(metadata.get(LINE_KEY))
        value["line_version"] = _as_int(metadata.get(VERSION_KEY))
        value["deleted"] = False
    _upsert(session, StripeInvoiceItemCache, values, _fetched_later, sticky=("deleted",))


def record_pushed_item(
    session: Session,
    *,
    item_id: str,
    stripe_customer: str,
    invoice: str | None,
    amount: int,
    currency: str,
    description: str | None,
    metadata: Mapping[str, str],
    at: datetime,
) -> None:
    """Cache the invoice item Stripe just returned to a push (create or update), in the push's
    own transaction, so the side-by-side view shows the line in sync without waiting for a pull
    (Stripe sends no event when a pending item is updated)."""
    save_invoice_items(
        session,
        [
            {
                "id": item_id,
                "stripe_customer": stripe_customer,
                "invoice": invoice,
                "amount": amount,
                "currency": currency,
                "description": description,
                "quantity": None,
                "unit_amount": None,
                "created": None,
                "metadata": dict(metadata),
                "fetched_at": at,
            }
        ],
    )


def save_credit_notes(session: Session, rows: Sequence[Row]) -> None:
    if not rows:
        return
    values = _with_owner(session, rows, "stripe_customer")
    _upsert(session, StripeCreditNoteCache, values, _credit_note_newer)


def mark_deleted(
    session: Session, model: type[Any], ids: Iterable[str], fetched_at: datetime
) -> int:
    """Record that Stripe no longer has these objects (a deleted draft or invoice item)."""
    wanted = list(ids)
    if not wanted:
        return 0
    result = session.execute(
        update(model)
        .where(model.id.in_(wanted), model.deleted.is_(False))
        .values(deleted=True, fetched_at=fetched_at)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Reads for the pull ---------------------------------------------------------------------------


def cached_item_ids(
    session: Session, *, stripe_customer: str | None = None, invoice: str | None
) -> set[str]:
    """Ids of the live cached items on `invoice`, or pending for `stripe_customer`."""
    live = StripeInvoiceItemCache.deleted.is_(False)
    if invoice is not None:
        query = select(StripeInvoiceItemCache.id).where(
            live, StripeInvoiceItemCache.invoice == invoice
        )
    else:
        query = select(StripeInvoiceItemCache.id).where(
            live,
            StripeInvoiceItemCache.stripe_customer == stripe_customer,
            StripeInvoiceItemCache.invoice.is_(None),
        )
    return set(session.scalars(query))


def cached_invoice_ids(session: Session, stripe_customer: str) -> set[str]:
    query = select(StripeInvoiceCache.id).where(
        StripeInvoiceCache.stripe_customer == stripe_customer,
        StripeInvoiceCache.deleted.is_(False),
    )
    return set(session.scalars(query))


def tracked_draft_ids(session: Session, customer_id: str | None = None) -> set[str]:
    """Stripe ids of the period drafts the sync engine made (`period_invoices`; of one customer,
    or all), cached or not: a pull that no longer finds one must still learn it was deleted."""
    query = select(PeriodInvoice.stripe_invoice_id).where(
        PeriodInvoice.stripe_invoice_id.is_not(None),
        PeriodInvoice.status.in_(("creating", "draft")),
    )
    if customer_id is not None:
        query = query.where(PeriodInvoice.customer_id == customer_id)
    return {str(value) for value in session.scalars(query)}


def invoice_for_period(
    session: Session, customer_id: str, period: str
) -> StripeInvoiceCache | None:
    """The cached Stripe invoice of a customer's period.

    The one the sync engine recorded for the period, if cached; else the live invoice whose
    metadata names the period, preferring one not voided, then the newest.
    """
    recorded = session.scalar(
        select(StripeInvoiceCache)
        .join(PeriodInvoice, PeriodInvoice.stripe_invoice_id == StripeInvoiceCache.id)
        .where(PeriodInvoice.customer_id == customer_id, PeriodInvoice.period == period)
    )
    if recorded is not None:
        return recorded
    return session.scalar(
        select(StripeInvoiceCache)
        .where(
            StripeInvoiceCache.customer_id == customer_id,
            StripeInvoiceCache.period == period,
        )
        .order_by(
            StripeInvoiceCache.deleted,
            case((StripeInvoiceCache.status == "void", 1), else_=0),
            StripeInvoiceCache.created.desc(),
        )
        .limit(1)
    )


def live_ids_fetched_before(session: Session, model: type[Any], before: datetime) -> set[str]:
    """Ids of cached objects not known to be deleted, last fetched before `before`."""
    query = select(model.id).where(model.deleted.is_(False), model.fetched_at < before)
    return set(session.scalars(query))


def known_stripe_customers(session: Session) -> list[str]:
    """Stripe ids of every local customer that has one (the customers the cache follows)."""
    query = select(Customer.stripe_customer_id).where(Customer.stripe_customer_id.is_not(None))
    return sorted(str(value) for value in session.scalars(query))


# The events cursor ----------------------------------------------------------------------------


def load_cursor(session: Session) -> StripeEventCursor | None:
    return session.get(StripeEventCursor, CURSOR_NAME)


def move_cursor(
    session: Session,
    *,
    position: datetime | None,
    fetched_at: datetime,
    last_event: tuple[str, datetime] | None = None,
) -> None:
    """Move the cursor forward (never back: a slower worker's older page changes nothing).

    `last_event` (id, created) is the anchor: the newest event listed, listed again next time.
    """
    cursor = _locked_cursor(session, fetched_at)
    cursor.fetched_at = max(cursor.fetched_at, fetched_at)
    if position is not None and (cursor.position is None or position > cursor.position):
        cursor.position = position
    if last_event is not None and (
        cursor.last_event_created is None or last_event[1] >= cursor.last_event_created
    ):
        cursor.last_event_id, cursor.last_event_created = last_event


def reset_cursor(
    session: Session,
    *,
    position: datetime,
    last_event: tuple[str, datetime] | None,
    full_reconcile_at: datetime,
    fetched_at: datetime,
) -> None:
    """Restart the cursor after a full reconciliation (its anchor may be older, or none)."""
    cursor = _locked_cursor(session, fetched_at)
    cursor.position = position
    cursor.last_event_id, cursor.last_event_created = last_event or (None, None)
    cursor.full_reconcile_at = full_reconcile_at
    cursor.fetched_at = fetched_at


def processed_event_ids(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = list(ids)
    out: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        out.update(
            session.scalars(
                select(StripeProcessedEvent.id).where(StripeProcessedEvent.id.in_(chunk))
            )
        )
    return out


def record_events(session: Session, rows: Sequence[Row]) -> None:
    """Remember applied events (id, type, object_id, created, fetched_at); repeats are ignored."""
    if not rows:
        return
    table = _table(StripeProcessedEvent)
    insert = _insert(session)
    for chunk in _chunks(sorted(rows, key=lambda row: str(row["id"]))):
        stmt = insert(table).values(list(chunk)).on_conflict_do_nothing(index_elements=["id"])
        session.execute(stmt)


def prune_events(session: Session, created_before: datetime) -> int:
    """Forget events Stripe will never list again (older than its 30-day window)."""
    result = session.execute(
        delete(StripeProcessedEvent).where(StripeProcessedEvent.created < created_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)

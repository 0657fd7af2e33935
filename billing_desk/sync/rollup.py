"""Beyond 250 lines in a customer's period (Stripe's limit per invoice), lines roll up.

Each line then belongs to a group named by its item's prefix (the item code up to its first
`.`, `:`, `-` or `_`), and each group is one Stripe invoice item whose amount is the sum of the
group's live lines and whose metadata names every line and version it sums
(`reconcile.rollup_metadata`, plus `billing_desk_rollup`: the group). Should the prefixes still
number more than 250, they share 250 buckets. The local drill-down keeps every line.

A group is pushed with one call however many of its lines changed; items the lines had on
their own before the period crossed the limit are deleted first. Stripe's answers (the group's
item, the items deleted) go into the Stripe cache in the transaction that settles the push, as
for an ordinary push, so the side-by-side view shows the lines in sync without a pull.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.domain.reconcile import rollup_metadata
from billing_desk.store import stripe_cache_repo, sync_repo
from billing_desk.store.models import Customer, Line
from billing_desk.store.models.stripe_cache import StripeInvoiceItemCache
from billing_desk.stripe_gateway import (
    PermanentStripeError,
    StripeFailure,
    StripeKeyRejected,
    TransientStripeError,
)
from billing_desk.stripe_gateway.types import StripeInvoiceItem
from billing_desk.sync import results
from billing_desk.sync.context import OpContext
from billing_desk.sync.faults import kill_point
from billing_desk.sync.item_cache import record_item
from billing_desk.sync.results import Result, Status

LIMIT = 250
_PREFIX = re.compile(r"^[^.:_-]+")


def prefix(item: str) -> str:
    match = _PREFIX.match(item)
    return match.group(0) if match else item


def groups_of(items: set[str]) -> dict[str, str]:
    """Each item's group: its prefix, or one of LIMIT buckets when prefixes are too many."""
    prefixes = {item: prefix(item) for item in items}
    if len(set(prefixes.values())) <= LIMIT:
        return prefixes
    return {item: f"group-{zlib.crc32(p.encode()) % LIMIT:03d}" for item, p in prefixes.items()}


def group_in(session: Session, customer_id: str, period: str, item: str) -> str | None:
    """The item's roll-up group if the period has more lines than one invoice may hold, else
    None. Memoized per session (a customer's lines are planned together)."""
    memo: dict[tuple[str, str], dict[str, str] | None] = session.info.setdefault("rollups", {})
    if (customer_id, period) not in memo:
        items = [
            row.item
            for row in session.execute(
                select(Line.item).where(
                    Line.customer_id == customer_id,
                    Line.period == period,
                    Line.voided.is_(False),
                )
            )
        ]
        memo[(customer_id, period)] = groups_of(set(items)) if len(items) > LIMIT else None
    groups = memo[(customer_id, period)]
    if groups is None:
        return None
    return groups.get(item) or groups_of({item})[item]


@dataclass(frozen=True)
class _Group:
    stripe_customer: str
    currency: str
    invoice: str | None
    lines: dict[int, tuple[int, int]]  # live line id -> (version, amount)
    voided: dict[int, int]  # voided line id -> version


def _read(ctx: OpContext, customer_id: str, period: str, group: str) -> _Group:
    with ctx.read() as uow:
        s = uow.session
        customer = s.get(Customer, customer_id)
        assert customer is not None
        assert customer.stripe_customer_id is not None
        every = list(
            s.scalars(select(Line).where(Line.customer_id == customer_id, Line.period == period))
        )
        membership = groups_of({line.item for line in every})
        mine = [line for line in every if membership[line.item] == group]
        invoice = sync_repo.period_invoice(s, customer_id, period)
        return _Group(
            stripe_customer=customer.stripe_customer_id,
            currency=mine[0].currency if mine else "usd",
            invoice=invoice.stripe_invoice_id if invoice is not None else None,
            lines={ln.id: (ln.version, ln.amount) for ln in mine if not ln.voided},
            voided={ln.id: ln.version for ln in mine if ln.voided},
        )


def _period_groups(ctx: OpContext, customer_id: str, period: str) -> set[str]:
    with ctx.read() as uow:
        items = uow.session.scalars(
            select(Line.item).where(Line.customer_id == customer_id, Line.period == period)
        )
        return set(groups_of(set(items)).values())


async def run_period(
    ctx: OpContext,
    customer_id: str,
    period: str,
    ops_by_group: dict[str, list[sync_repo.ClaimedOp]],
) -> dict[int, Result]:
    """Push a rolled-up period: the groups with claimed changes, and any other group Stripe
    does not show as one item yet (the period just crossed the limit). The result for each
    claimed operation."""
    outcome: dict[int, Result] = {}
    for group in sorted(await asyncio.to_thread(_period_groups, ctx, customer_id, period)):
        ops = ops_by_group.get(group, [])
        data = await asyncio.to_thread(_read, ctx, customer_id, period, group)
        if ops or await _stale(ctx, period, group, data):
            outcome |= await _run_group(ctx, customer_id, period, group, data, ops)
    return outcome


async def _stale(ctx: OpContext, period: str, group: str, data: _Group) -> bool:
    """Stripe's items for the group differ from one roll-up item holding its lines."""
    mine = [
        item
        for item in await ctx.invoice_items_of(data.stripe_customer)
        if item.metadata.get("billing_desk_period") == period
        and (
            item.metadata.get("billing_desk_rollup") == group
            or _line_of(item.metadata) in data.lines.keys() | data.voided.keys()
        )
    ]
    expected = sum(amount for _, amount in data.lines.values())
    if not data.lines:
        return bool(mine)
    return (
        len(mine) != 1
        or mine[0].metadata.get("billing_desk_rollup") != group
        or (mine[0].amount != expected)
    )


def _line_of(metadata: dict[str, str]) -> int | None:
    text = metadata.get("billing_desk_line", "")
    return int(text) if text.isdigit() else None


async def _run_group(
    ctx: OpContext,
    customer_id: str,
    period: str,
    group: str,
    data: _Group,
    ops: list[sync_repo.ClaimedOp],
) -> dict[int, Result]:
    """Push one roll-up group; the result for each of the group's claimed operations."""
    now = ctx.now()

    def begin(s: Session) -> list[bool]:
        return [sync_repo.begin_attempt(s, op, ctx.worker, now, None) for op in ops]

    began = await ctx.recorder.run(begin)
    live_ops = [op for op, ok in zip(ops, began, strict=True) if ok]
    outcome = {op.id: results.LOST for op, ok in zip(ops, began, strict=True) if not ok}
    answer = _Answer()
    try:
        await _push(ctx, customer_id, period, group, data, answer)
    except StripeFailure as exc:
        if answer.deleted:  # gone in Stripe all the same: a retry will not list them again
            await ctx.recorder.run(lambda s: _cache(s, answer, ctx.now()))
        if isinstance(exc, StripeKeyRejected):
            raise
        if isinstance(exc, TransientStripeError):
            return outcome | {op.id: Result(Status.RETRY, exc.message) for op in live_ops}
        message = f"{exc.message} (roll-up {group} of {period})"
        return outcome | {op.id: Result(Status.ATTENTION, message) for op in live_ops}
    kill_point("after_stripe_response")
    item_id = None if answer.item is None else answer.item.id
    versions = {**{lid: v for lid, (v, _) in data.lines.items()}, **data.voided}

    unchanged = [lid for lid in data.lines if lid not in {op.line_id for op in ops}]

    def settle(s: Session) -> list[bool]:
        _cache(s, answer, ctx.now())
        sync_repo.point_lines(s, unchanged, item_id)
        done = []
        for op in live_ops:
            ok = sync_repo.settle_done(s, op.id, ctx.worker, ctx.now(), item_id)
            done.append(ok)
            if ok and op.line_id is not None:
                line_item = None if op.line_id in data.voided else item_id
                version = versions.get(op.line_id, op.target_version or 0)
                sync_repo.record_line_pushed(s, op.line_id, version, line_item, ctx.now())
        return done

    settled = await ctx.recorder.run(settle)
    kill_point("after_commit")
    for op, ok in zip(live_ops, settled, strict=True):
        outcome[op.id] = results.DONE if ok else results.LOST
    return outcome


@dataclass
class _Answer:
    """What Stripe did for one group push: the group's item (None when the group emptied) and
    the items deleted on the way."""

    item: StripeInvoiceItem | None = None
    deleted: list[str] = field(default_factory=list)


def _cache(s: Session, answer: _Answer, now: datetime) -> None:
    """Stripe's answers into the cache (the group's item, the items deleted on the way)."""
    if answer.item is not None:
        record_item(s, answer.item, now)
    stripe_cache_repo.mark_deleted(s, StripeInvoiceItemCache, answer.deleted, now)


async def _push(
    ctx: OpContext, customer_id: str, period: str, group: str, data: _Group, answer: _Answer
) -> None:
    """Make Stripe hold one item for the group; `answer` records what Stripe did."""
    gw = ctx.gateway
    existing = None
    for item in await ctx.invoice_items_of(data.stripe_customer):
        meta = item.metadata
        if meta.get("billing_desk_period") != period:
            continue
        if meta.get("billing_desk_rollup") == group:
            existing = item.id
        elif _line_of(meta) in data.lines.keys() | data.voided.keys():
            await _delete(ctx, item.id)  # the line's own item, from before the roll-up
            answer.deleted.append(item.id)
    if not data.lines:
        if existing is not None:
            await _delete(ctx, existing)
            answer.deleted.append(existing)
        return
    metadata = {
        "billing_desk_rollup": group,
        "billing_desk_period": period,
        **rollup_metadata({lid: version for lid, (version, _) in data.lines.items()}),
    }
    amount = sum(amount for _, amount in data.lines.values())
    description = f"{group}: {len(data.lines)} lines (details in Billing Desk)"
    fingerprint = hashlib.sha256(repr(sorted(data.lines.items())).encode()).hexdigest()[:16]
    key = f"bd:rollup:{customer_id}:{period}:{group}:{fingerprint}"[:255]
    if existing is not None:
        answer.item = await gw.update_invoice_item(
            existing, amount=amount, description=description, metadata=metadata, key=key
        )
        return
    answer.item = await gw.create_invoice_item(
        customer=data.stripe_customer,
        amount=amount,
        currency=data.currency,
        description=description,
        metadata=metadata,
        invoice=data.invoice,
        key=key,
    )


async def _delete(ctx: OpContext, item_id: str) -> None:
    try:
        await ctx.gateway.delete_invoice_item(item_id, f"bd:delete:{item_id}")
    except PermanentStripeError as exc:
        if exc.code != "resource_missing":
            raise

"""Local compiled lines beside Stripe's invoice items: rows aligned by line, a status per row.

Alignment: a Stripe item belongs to the local lines its metadata names (`billing_desk_line`, or
several for a roll-up, see `line_refs`); an item without usable metadata falls back to the local
line whose `stripe_invoice_item` is its id. Anything left over is "only in Stripe" / "only local".

A row's status compares what Stripe bills with what the ledger says, allowing for pushes not made
yet: a line whose version is ahead of the version Stripe holds is `waiting_to_push` whatever the
amounts (the next push sets them), and only an unexplained difference is `amount_differs`.

Amounts are integer minor units; a voided line counts as 0 and expects no Stripe item.
Differences are Stripe minus local: positive means Stripe bills more than the ledger.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

LINE_KEY = "billing_desk_line"
VERSION_KEY = "billing_desk_version"
# A roll-up item (beyond 250 items per invoice) names every line it sums as "line:version" pairs,
# comma-separated, spread over numbered keys because one metadata value holds 500 characters.
ROLLUP_KEY_PREFIX = "billing_desk_lines"


class RowStatus(enum.Enum):
    IN_SYNC = "in_sync"
    WAITING_TO_PUSH = "waiting_to_push"
    AMOUNT_DIFFERS = "amount_differs"
    ONLY_IN_STRIPE = "only_in_stripe"
    ONLY_LOCAL = "only_local"


@dataclass(frozen=True, slots=True)
class LocalLine:
    id: int
    item: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: int
    version: int
    synced_version: int | None
    voided: bool
    stripe_invoice_item: str | None

    @property
    def billed_amount(self) -> int:
        """What this line should put on the invoice: nothing once voided."""
        return 0 if self.voided else self.amount

    @property
    def ever_pushed(self) -> bool:
        return self.synced_version is not None or self.stripe_invoice_item is not None


@dataclass(frozen=True, slots=True)
class StripeLine:
    """One Stripe invoice item (on the invoice or pending), as cached."""

    id: str
    amount: int
    description: str
    # Line id -> the line version Stripe holds (None when the metadata gives no version).
    lines: Mapping[int, int | None] = field(default_factory=dict)
    invoice: str | None = None

    @classmethod
    def from_metadata(
        cls,
        id: str,
        amount: int,
        description: str,
        metadata: Mapping[str, str] | None,
        invoice: str | None = None,
    ) -> StripeLine:
        return cls(id, amount, description, line_refs(metadata or {}), invoice)


def line_refs(metadata: Mapping[str, str]) -> dict[int, int | None]:
    """The local lines (id -> version) an item's metadata names; empty when it names none.

    Malformed values (edited by hand in the Dashboard) are skipped rather than trusted.
    """
    refs: dict[int, int | None] = {}
    single = _to_int(metadata.get(LINE_KEY))
    if single is not None:
        refs[single] = _to_int(metadata.get(VERSION_KEY))
    for key in sorted(k for k in metadata if k.startswith(ROLLUP_KEY_PREFIX)):
        for pair in metadata[key].split(","):
            line_text, _, version_text = pair.strip().partition(":")
            line_id = _to_int(line_text)
            if line_id is not None:
                refs[line_id] = _to_int(version_text)
    return refs


def rollup_metadata(lines: Mapping[int, int], value_limit: int = 500) -> dict[str, str]:
    """The metadata naming several lines (id -> version) for one roll-up item.

    The inverse of `line_refs` for roll-ups: pairs packed into values of at most `value_limit`
    characters under `billing_desk_lines`, `billing_desk_lines_1`, ...
    """
    values: list[str] = []
    current = ""
    for line_id, version in sorted(lines.items()):
        pair = f"{line_id}:{version}"
        candidate = f"{current},{pair}" if current else pair
        if len(candidate) > value_limit:
            values.append(current)
            candidate = pair
        current = candidate
    if current:
        values.append(current)
    return {
        (ROLLUP_KEY_PREFIX if i == 0 else f"{ROLLUP_KEY_PREFIX}_{i}"): value
        for i, value in enumerate(values)
    }


def _to_int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


@dataclass(frozen=True, slots=True)
class Row:
    """One aligned row: the local line (several for a roll-up, none) beside its Stripe item."""

    lines: tuple[LocalLine, ...]
    stripe: StripeLine | None
    status: RowStatus

    @property
    def local_amount(self) -> int | None:
        return sum(line.billed_amount for line in self.lines) if self.lines else None

    @property
    def stripe_amount(self) -> int | None:
        return None if self.stripe is None else self.stripe.amount

    @property
    def difference(self) -> int:
        return (self.stripe_amount or 0) - (self.local_amount or 0)

    @property
    def is_rollup(self) -> bool:
        return len(self.lines) > 1

    @property
    def drift(self) -> bool:
        """Stripe disagrees with the ledger in a way the next push will not fix."""
        if self.status in (RowStatus.AMOUNT_DIFFERS, RowStatus.ONLY_IN_STRIPE):
            return True
        # Pushed and up to date, yet Stripe has no item: deleted in the Dashboard.
        return self.status is RowStatus.ONLY_LOCAL and any(line.ever_pushed for line in self.lines)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    rows: tuple[Row, ...]

    @property
    def local_total(self) -> int:
        return sum(row.local_amount or 0 for row in self.rows)

    @property
    def stripe_total(self) -> int:
        return sum(row.stripe_amount or 0 for row in self.rows)

    @property
    def difference(self) -> int:
        return self.stripe_total - self.local_total

    @property
    def has_drift(self) -> bool:
        """Stripe's copy was changed behind the ledger's back (the GUI's drift badge): an
        amount edited, an item added or deleted in the Dashboard. Pending pushes are not drift."""
        return any(row.drift for row in self.rows)

    @property
    def waiting(self) -> int:
        """Rows a push will still change (waiting to push, or never pushed)."""
        return sum(
            1
            for row in self.rows
            if row.status in (RowStatus.WAITING_TO_PUSH, RowStatus.ONLY_LOCAL) and not row.drift
        )

    @property
    def in_sync(self) -> bool:
        """Stripe bills exactly the ledger, line by line: what finalization requires."""
        return all(row.status is RowStatus.IN_SYNC for row in self.rows)

    def counts(self) -> dict[RowStatus, int]:
        out = dict.fromkeys(RowStatus, 0)
        for row in self.rows:
            out[row.status] += 1
        return out


def reconcile(local: Iterable[LocalLine], stripe: Iterable[StripeLine]) -> Reconciliation:
    """Align `local` lines with `stripe` items and give each row its status."""
    local_by_id = {line.id: line for line in local}
    items = sorted(stripe, key=lambda s: s.id)
    by_item_id = {
        line.stripe_invoice_item: line
        for line in local_by_id.values()
        if line.stripe_invoice_item is not None
    }

    # Each local line goes to one Stripe item. The item the line records as its own wins; other
    # items naming the same line (a duplicate created in Stripe) are left over as Stripe-only.
    owner: dict[int, str] = {}
    for item in items:
        for line_id in _claimed(item, local_by_id, by_item_id):
            line = local_by_id[line_id]
            if line_id not in owner or line.stripe_invoice_item == item.id:
                owner[line_id] = item.id

    rows: list[tuple[tuple[str, int, str], Row]] = []
    for item in items:
        claimed = tuple(
            local_by_id[line_id]
            for line_id in sorted(_claimed(item, local_by_id, by_item_id))
            if owner.get(line_id) == item.id
        )
        row = _pair(claimed, item) if claimed else Row((), item, RowStatus.ONLY_IN_STRIPE)
        rows.append((_order(row), row))
    for line in local_by_id.values():
        if line.id not in owner:
            row = _unpaired(line)
            rows.append((_order(row), row))
    rows.sort(key=lambda pair: pair[0])
    return Reconciliation(tuple(row for _, row in rows))


def _claimed(
    item: StripeLine, local_by_id: Mapping[int, LocalLine], by_item_id: Mapping[str, LocalLine]
) -> list[int]:
    named = [line_id for line_id in item.lines if line_id in local_by_id]
    if named:
        return named
    fallback = by_item_id.get(item.id)
    return [fallback.id] if fallback is not None else []


def _pair(lines: tuple[LocalLine, ...], item: StripeLine) -> Row:
    pending = False
    for line in lines:
        held = item.lines.get(line.id)
        stripe_version = held if held is not None else line.synced_version
        if stripe_version is None or line.version > stripe_version:
            pending = True
    if pending:
        return Row(lines, item, RowStatus.WAITING_TO_PUSH)
    local_amount = sum(line.billed_amount for line in lines)
    status = RowStatus.IN_SYNC if item.amount == local_amount else RowStatus.AMOUNT_DIFFERS
    return Row(lines, item, status)


def _unpaired(line: LocalLine) -> Row:
    if line.voided:
        # Voided and absent from Stripe: both sides agree there is nothing to bill.
        return Row((line,), None, RowStatus.IN_SYNC)
    if line.ever_pushed and (line.synced_version is None or line.version > line.synced_version):
        # Pushed before, changed since (e.g. reinstated after a void): the push recreates it.
        return Row((line,), None, RowStatus.WAITING_TO_PUSH)
    return Row((line,), None, RowStatus.ONLY_LOCAL)


def _order(row: Row) -> tuple[str, int, str]:
    # Local lines in item order; Stripe-only rows after them, in Stripe id order.
    if row.lines:
        first = row.lines[0]
        return ("0" + first.item, first.id, "")
    assert row.stripe is not None
    return ("1", 0, row.stripe.id)

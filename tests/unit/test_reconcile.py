"""Reconciliation of local lines with Stripe items: statuses, totals, roll-ups (Hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.reconcile import (
    LINE_KEY,
    VERSION_KEY,
    LocalLine,
    RowStatus,
    StripeLine,
    line_refs,
    reconcile,
    rollup_metadata,
)


def line(
    id: int,
    amount: int = 1000,
    version: int = 1,
    synced: int | None = 1,
    voided: bool = False,
    item_id: str | None = "auto",
) -> LocalLine:
    if item_id == "auto":
        item_id = f"ii_{id}" if synced is not None else None
    return LocalLine(
        id=id,
        item=f"api.calls.{id % 3}",
        description=f"line {id}",
        quantity=Decimal(amount),
        unit_amount=Decimal(1),
        amount=amount,
        version=version,
        synced_version=synced,
        voided=voided,
        stripe_invoice_item=item_id,
    )


def item(
    line_id: int | None, amount: int = 1000, version: int | None = 1, id: str | None = None
) -> StripeLine:
    metadata = {} if line_id is None else {LINE_KEY: str(line_id)}
    if line_id is not None and version is not None:
        metadata[VERSION_KEY] = str(version)
    return StripeLine.from_metadata(
        id or f"ii_{line_id}", amount, f"line {line_id}", metadata, "in_1"
    )


def mirror(lines: list[LocalLine]) -> list[StripeLine]:
    """What Stripe holds once every line is pushed: one item per billed line."""
    return [item(ln.id, ln.billed_amount, ln.version) for ln in lines if not ln.voided]


def pushed(ln: LocalLine) -> LocalLine:
    return replace(ln, synced_version=ln.version, stripe_invoice_item=f"ii_{ln.id}")


local_lines = st.lists(
    st.builds(
        line,
        id=st.integers(1, 10_000),
        amount=st.integers(-50_000, 5_000_000),
        version=st.integers(1, 5),
        synced=st.none() | st.integers(1, 5),
        voided=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda ln: ln.id,
)
stripe_items = st.lists(
    st.builds(
        item,
        line_id=st.none() | st.integers(1, 10_000),
        amount=st.integers(-50_000, 5_000_000),
        version=st.none() | st.integers(1, 6),
        id=st.text("abcdef0123456789", min_size=4, max_size=8).map(lambda s: "ii_x" + s),
    ),
    max_size=30,
    unique_by=lambda s: s.id,
)


@given(local_lines, stripe_items)
def test_every_line_and_item_lands_in_exactly_one_row(
    lines: list[LocalLine], items: list[StripeLine]
) -> None:
    result = reconcile(lines, items)
    seen_lines = [ln.id for row in result.rows for ln in row.lines]
    seen_items = [row.stripe.id for row in result.rows if row.stripe is not None]
    assert sorted(seen_lines) == sorted(ln.id for ln in lines)
    assert sorted(seen_items) == sorted(s.id for s in items)
    assert result.local_total == sum(ln.billed_amount for ln in lines)
    assert result.stripe_total == sum(s.amount for s in items)
    assert result.difference == sum(row.difference for row in result.rows)
    assert sum(result.counts().values()) == len(result.rows)


@given(local_lines, stripe_items, st.randoms(use_true_random=False))
def test_input_order_does_not_matter(
    lines: list[LocalLine], items: list[StripeLine], rnd: object
) -> None:
    shuffled_lines, shuffled_items = list(lines), list(items)
    rnd.shuffle(shuffled_lines)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_items)  # type: ignore[attr-defined]
    assert reconcile(lines, items) == reconcile(shuffled_lines, shuffled_items)


@given(local_lines)
def test_stripe_mirroring_the_ledger_is_in_sync(lines: list[LocalLine]) -> None:
    lines = [pushed(ln) for ln in lines]
    result = reconcile(lines, mirror(lines))
    assert result.in_sync
    assert not result.has_drift
    assert result.difference == 0
    assert result.waiting == 0


@given(local_lines.filter(lambda ls: any(not ln.voided for ln in ls)), st.data())
def test_a_dashboard_amount_edit_is_drift_on_that_row_only(
    lines: list[LocalLine], data: st.DataObject
) -> None:
    lines = [pushed(ln) for ln in lines]
    items = mirror(lines)
    index = data.draw(st.integers(0, len(items) - 1))
    delta = data.draw(st.integers(1, 10_000) | st.integers(-10_000, -1))
    items[index] = replace(items[index], amount=items[index].amount + delta)
    result = reconcile(lines, items)
    differing = [row for row in result.rows if row.status is RowStatus.AMOUNT_DIFFERS]
    assert [row.stripe for row in differing] == [items[index]]
    assert differing[0].difference == delta
    assert result.has_drift
    assert result.difference == delta


@given(local_lines.filter(lambda ls: len(ls) > 0), st.data())
def test_a_local_change_not_yet_pushed_is_waiting_not_drift(
    lines: list[LocalLine], data: st.DataObject
) -> None:
    lines = [pushed(ln) for ln in lines]
    items = mirror(lines)
    index = data.draw(st.integers(0, len(lines) - 1))
    changed = lines[index]
    lines[index] = replace(
        changed, version=changed.version + 1, amount=changed.amount + 7, voided=False
    )
    result = reconcile(lines, items)
    assert not result.has_drift
    assert not result.in_sync
    assert result.waiting == 1
    (row,) = [row for row in result.rows if lines[index] in row.lines]
    assert row.status is RowStatus.WAITING_TO_PUSH


def test_each_kind_of_difference() -> None:
    lines = [
        line(1),  # in sync
        line(2, amount=1500, version=2, synced=1),  # changed locally, push pending
        line(3),  # amount edited in the Dashboard
        line(4, synced=None),  # never pushed
        line(5),  # its item was deleted in the Dashboard
        line(6, voided=True, version=2, synced=2),  # voided and deleted in Stripe
        line(7, voided=True, version=2, synced=1),  # voided, deletion not pushed yet
    ]
    items = [
        item(1),
        item(2),
        item(3, amount=900),
        item(None, amount=250, id="ii_dashboard"),  # added in the Dashboard
        item(7),
    ]
    result = reconcile(lines, items)
    status = {
        (row.lines[0].id if row.lines else row.stripe.id if row.stripe else None): row.status
        for row in result.rows
    }
    assert status == {
        1: RowStatus.IN_SYNC,
        2: RowStatus.WAITING_TO_PUSH,
        3: RowStatus.AMOUNT_DIFFERS,
        4: RowStatus.ONLY_LOCAL,
        5: RowStatus.ONLY_LOCAL,
        6: RowStatus.IN_SYNC,
        7: RowStatus.WAITING_TO_PUSH,
        "ii_dashboard": RowStatus.ONLY_IN_STRIPE,
    }
    drifting = {
        row.lines[0].id if row.lines else "ii_dashboard" for row in result.rows if row.drift
    }
    assert drifting == {3, 5, "ii_dashboard"}
    assert result.has_drift
    assert result.local_total == 1000 + 1500 + 1000 + 1000 + 1000
    assert result.stripe_total == 1000 + 1000 + 900 + 250 + 1000
    assert result.difference == result.stripe_total - result.local_total
    # Stripe-only rows come after the local lines.
    assert result.rows[-1].stripe is not None
    assert result.rows[-1].stripe.id == "ii_dashboard"


def test_an_item_without_metadata_falls_back_to_the_line_that_records_it() -> None:
    result = reconcile([line(1, item_id="ii_manual")], [item(None, id="ii_manual")])
    assert [row.status for row in result.rows] == [RowStatus.IN_SYNC]


def test_a_duplicate_item_for_one_line_shows_as_only_in_stripe() -> None:
    result = reconcile([line(1)], [item(1), item(1, id="ii_dup")])
    assert result.counts()[RowStatus.IN_SYNC] == 1
    (extra,) = [row for row in result.rows if row.status is RowStatus.ONLY_IN_STRIPE]
    assert extra.stripe is not None
    assert extra.stripe.id == "ii_dup"
    assert result.has_drift


def test_metadata_naming_unknown_lines_or_garbage_is_only_in_stripe() -> None:
    garbage = StripeLine.from_metadata(
        "ii_g", 100, "x", {LINE_KEY: "twelve", VERSION_KEY: "-1"}, None
    )
    result = reconcile([], [item(99), garbage])
    assert {row.status for row in result.rows} == {RowStatus.ONLY_IN_STRIPE}


rollup_refs = st.dictionaries(st.integers(1, 10**12), st.integers(1, 10**6), max_size=300)


@given(rollup_refs)
def test_rollup_metadata_round_trips_within_stripe_limits(refs: dict[int, int]) -> None:
    metadata = rollup_metadata(refs)
    assert line_refs(metadata) == refs
    assert all(len(v) <= 500 and len(k) <= 40 for k, v in metadata.items())
    assert len(metadata) <= 49  # Stripe allows 50 keys


@given(local_lines, st.data())
def test_rolled_up_lines_mirrored_by_stripe_are_in_sync(
    lines: list[LocalLine], data: st.DataObject
) -> None:
    billed = [pushed(ln) for ln in lines if not ln.voided]
    groups: dict[int, list[LocalLine]] = {}
    for ln in billed:
        groups.setdefault(data.draw(st.integers(0, 3)), []).append(ln)
    items = [
        StripeLine.from_metadata(
            f"ii_roll{key}",
            sum(ln.amount for ln in group),
            "rolled up",
            rollup_metadata({ln.id: ln.version for ln in group}),
            "in_1",
        )
        for key, group in groups.items()
    ]
    result = reconcile(billed, items)
    assert result.in_sync
    assert len(result.rows) == len(groups)
    assert {len(row.lines) for row in result.rows if row.is_rollup} <= {
        len(g) for g in groups.values()
    }


def test_a_rollup_with_one_line_changed_waits_then_differs() -> None:
    lines = [line(1, amount=100), line(2, amount=200)]
    rolled = StripeLine.from_metadata("ii_r", 300, "api.*", rollup_metadata({1: 1, 2: 1}), None)
    newer = [lines[0], replace(lines[1], amount=250, version=2)]
    (row,) = reconcile(newer, [rolled]).rows
    assert row.status is RowStatus.WAITING_TO_PUSH
    assert row.is_rollup
    edited = replace(rolled, amount=280)
    (row,) = reconcile(lines, [edited]).rows
    assert row.status is RowStatus.AMOUNT_DIFFERS
    assert (row.local_amount, row.stripe_amount, row.difference) == (300, 280, -20)

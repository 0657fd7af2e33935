"""Random sequences of corrections, undos and new usage, checked against an independent oracle.

The simulator applies each accepted plan the way the corrections service does (a line change,
or a new line) and records what an undo needs; usage arriving later moves a line's compiled
amount and, unless the line is void, its billed amount by the same delta (how ingest keeps a
correction's effect). The oracle recomputes every line from the corrections still applied, so
the property is: the invoice total always equals the compiled lines after corrections, and it is
never below zero (credits bring it to zero at most).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_desk.domain.corrections import (
    AppliedView,
    InvoiceStatus,
    InvoiceView,
    Kind,
    LineView,
    Proposal,
    Reason,
    Status,
    plan,
)
from billing_desk.domain.errors import InvalidInput


@dataclass
class Applied:
    view: AppliedView
    target_amount: int | None  # what an adjust set the line to


class Desk:
    def __init__(self, compiled: list[int]) -> None:
        self.lines = {
            i + 1: LineView(
                i + 1, "c", "2026-01", "usage", f"item {i}", Decimal(1), "usd", a, a, False, 1
            )
            for i, a in enumerate(compiled)
        }
        self.corrections: dict[int, Applied] = {}

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines.values())

    def invoice(self) -> InvoiceView:
        return InvoiceView("c", "2026-01", "usd", InvoiceStatus.DRAFT, self.total)

    def usage(self, line_id: int, delta: int) -> None:
        line = self.lines[line_id]
        amount = line.amount if line.voided else line.amount + delta
        self.lines[line_id] = replace(
            line,
            compiled_amount=line.compiled_amount + delta,
            amount=amount,
            version=line.version + 1,
        )

    def superseded_by(self, original: AppliedView) -> int | None:
        later = [
            c.view.id
            for c in self.corrections.values()
            if c.view.id > original.id
            and c.view.status is Status.APPLIED
            and c.view.kind in (Kind.ADJUST, Kind.VOID)
            and c.view.line_id == original.line_id
            and original.line_id is not None
        ]
        return max(later) if later else None

    def propose(self, p: Proposal) -> bool:
        line = self.lines.get(p.line_id) if p.line_id is not None else None
        original = None
        if p.reverts is not None:
            found = self.corrections[p.reverts].view
            original = replace(found, superseded_by=self.superseded_by(found))
            line = self.lines.get(found.created_line_id or found.line_id or 0)
        try:
            result = plan(p, self.invoice(), line, original)
        except InvalidInput:
            return False
        new_id = len(self.corrections) + 1
        created = None
        before = compiled = None
        if result.line_change is not None:
            change = result.line_change
            old = self.lines[change.line_id]
            before, compiled = old.amount, old.compiled_amount
            self.lines[change.line_id] = replace(
                old, amount=change.amount, voided=change.voided, version=old.version + 1
            )
        if result.new_line is not None:
            created = max(self.lines) + 1
            self.lines[created] = LineView(
                created,
                "c",
                "2026-01",
                result.new_line.kind,
                result.new_line.description,
                Decimal(0),
                "usd",
                result.new_line.amount,
                result.new_line.amount,
                False,
                1,
            )
        if p.kind is Kind.UNDO:
            assert p.reverts is not None
            undone = self.corrections[p.reverts]
            undone.view = replace(undone.view, status=Status.REVERTED)
        self.corrections[new_id] = Applied(
            AppliedView(
                new_id, p.kind, Status.APPLIED, "c", "2026-01", p.line_id, created, before, compiled
            ),
            result.line_change.amount if p.kind is Kind.ADJUST and result.line_change else None,
        )
        return True

    def oracle_total(self) -> int:
        """Each line recomputed from the corrections still applied, not from its stored amount."""
        total = 0
        for line in self.lines.values():
            if line.kind != "usage":
                made_by = next(
                    c for c in self.corrections.values() if c.view.created_line_id == line.id
                )
                total += 0 if made_by.view.status is Status.REVERTED else line.compiled_amount
                continue
            latest = max(
                (
                    c
                    for c in self.corrections.values()
                    if c.view.line_id == line.id
                    and c.view.status is Status.APPLIED
                    and c.view.kind in (Kind.ADJUST, Kind.VOID)
                ),
                key=lambda c: c.view.id,
                default=None,
            )
            if latest is None:
                total += line.compiled_amount
            elif latest.view.kind is Kind.VOID:
                total += 0
            else:
                assert latest.target_amount is not None
                assert latest.view.compiled_at_apply is not None
                total += latest.target_amount + line.compiled_amount - latest.view.compiled_at_apply
        return total


amounts = st.integers(min_value=1, max_value=50_000)
step = st.one_of(
    st.tuples(st.just("usage"), st.integers(1, 3), st.integers(0, 20_000)),
    st.tuples(st.just("adjust"), st.integers(1, 3), st.integers(0, 50_000)),
    st.tuples(st.just("void"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("credit"), st.just(0), amounts),
    st.tuples(st.just("one-off"), st.just(0), amounts),
    st.tuples(st.just("undo"), st.integers(0, 1000), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 30_000), min_size=3, max_size=3), st.lists(step, max_size=30))
def test_total_is_the_lines_after_corrections_and_never_negative(
    compiled: list[int], steps: list[tuple[str, int, int]]
) -> None:
    desk = Desk(compiled)
    for action, target, amount in steps:
        if action == "usage":
            desk.usage(target, amount)
        elif action == "undo":
            if desk.corrections:  # undo one of the corrections made so far, picked by `target`
                ids = sorted(desk.corrections)
                reverts = ids[target % len(ids)]
                desk.propose(Proposal(Kind.UNDO, "c", "2026-01", Reason.GOODWILL, reverts=reverts))
        else:
            kind = Kind(action)
            desk.propose(
                Proposal(
                    kind,
                    "c",
                    "2026-01",
                    Reason.PRICING_ERROR,
                    line_id=target if kind in (Kind.ADJUST, Kind.VOID) else None,
                    amount=amount if kind is not Kind.VOID else None,
                    description="fee" if kind is Kind.ONE_OFF else None,
                )
            )
        assert desk.total == desk.oracle_total()
        assert desk.total >= 0

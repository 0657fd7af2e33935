"""Each correction kind before and after finalization: refusals, effects and impact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing_desk.domain.corrections import (
    AppliedView,
    InvoiceStatus,
    InvoiceView,
    Kind,
    LineChange,
    LineView,
    NewLine,
    Proposal,
    Reason,
    Refused,
    Status,
    StripeAction,
    binding_hash,
    parse_kind,
    parse_reason,
    plan,
    transition,
)
from billing_desk.domain.errors import InvalidInput

LINE = LineView(
    id=7,
    customer_id="c1",
    period="2026-01",
    kind="usage",
    description="api calls",
    unit_amount=Decimal("0.5"),
    currency="usd",
    compiled_amount=10_000,
    amount=10_000,
    voided=False,
    version=3,
)


def invoice(
    status: InvoiceStatus = InvoiceStatus.DRAFT, total: int = 10_000, **kw: object
) -> InvoiceView:
    return InvoiceView("c1", "2026-01", "usd", status, total, **kw)  # type: ignore[arg-type]


def prop(kind: Kind, **kw: object) -> Proposal:
    return Proposal(kind, "c1", "2026-01", kw.pop("reason", Reason.GOODWILL), **kw)  # type: ignore[arg-type]


FINALIZED = [InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE]


def test_adjust_amount_before_finalization() -> None:
    result = plan(prop(Kind.ADJUST, line_id=7, amount=4_000), invoice(), LINE)
    assert result.line_change == LineChange(7, 4_000, voided=False)
    assert (result.impact.total_before, result.impact.total_after, result.impact.change) == (
        10_000,
        4_000,
        -6_000,
    )
    assert result.line_version == 3
    assert result.target_key == "line:7"


def test_adjust_quantity_uses_the_line_price_and_rounding() -> None:
    result = plan(prop(Kind.ADJUST, line_id=7, quantity=Decimal("3.001")), invoice(), LINE)
    # 3.001 x 0.5 = 1.5005 -> 2 (half away from zero)
    assert result.line_change == LineChange(7, 2, voided=False)


def test_void_line_before_finalization() -> None:
    result = plan(prop(Kind.VOID, line_id=7), invoice(), LINE)
    assert result.line_change == LineChange(7, 0, voided=True)
    assert result.impact.change == -10_000


def test_credit_before_finalization_is_a_negative_line() -> None:
    result = plan(prop(Kind.CREDIT, amount=2_500, reason=Reason.SERVICE_OUTAGE), invoice())
    assert result.new_line == NewLine("credit", "Credit: service-outage", -2_500)
    assert result.impact.total_after == 7_500


def test_one_off_before_finalization_is_a_new_line() -> None:
    result = plan(prop(Kind.ONE_OFF, amount=1_234, description=" setup fee "), invoice())
    assert result.new_line == NewLine("one-off", "setup fee", 1_234)
    assert result.impact.change == 1_234


@pytest.mark.parametrize(
    ("status", "credit_to"),
    [
        (InvoiceStatus.OPEN, "pre_payment"),
        (InvoiceStatus.PAID, "customer_balance"),
    ],
)
def test_credit_after_finalization_is_a_credit_note(status: InvoiceStatus, credit_to: str) -> None:
    result = plan(prop(Kind.CREDIT, amount=3_000), invoice(status), None)
    assert result.stripe == StripeAction("credit_note", 3_000, credit_to)  # type: ignore[arg-type]
    assert result.impact.total_after == 7_000
    assert result.new_line is None


def test_void_invoice_after_finalization() -> None:
    result = plan(prop(Kind.VOID_INVOICE), invoice(InvoiceStatus.OPEN))
    assert result.stripe == StripeAction("void_invoice", 10_000)
    assert result.impact.total_after == 0


@pytest.mark.parametrize("status", FINALIZED)
@pytest.mark.parametrize("kind", [Kind.ADJUST, Kind.VOID])
def test_line_kinds_after_finalization_say_use_credit(kind: Kind, status: InvoiceStatus) -> None:
    p = prop(kind, line_id=7, amount=1) if kind is Kind.ADJUST else prop(kind, line_id=7)
    with pytest.raises(Refused, match="refused: use credit"):
        plan(p, invoice(status), LINE)


@pytest.mark.parametrize("status", FINALIZED)
def test_one_off_after_finalization_is_refused(status: InvoiceStatus) -> None:
    with pytest.raises(Refused, match="one-off refused"):
        plan(prop(Kind.ONE_OFF, amount=1, description="x"), invoice(status))


@pytest.mark.parametrize("status", [InvoiceStatus.NONE, InvoiceStatus.DRAFT])
def test_void_invoice_before_finalization_is_refused(status: InvoiceStatus) -> None:
    with pytest.raises(Refused, match="void-invoice refused"):
        plan(prop(Kind.VOID_INVOICE), invoice(status))


def test_paid_invoice_is_credited_not_voided() -> None:
    with pytest.raises(Refused, match="refused: use credit"):
        plan(prop(Kind.VOID_INVOICE), invoice(InvoiceStatus.PAID))


def test_uncollectible_invoice_is_voided_not_credited() -> None:
    with pytest.raises(Refused, match="credit refused"):
        plan(prop(Kind.CREDIT, amount=1), invoice(InvoiceStatus.UNCOLLECTIBLE))
    assert plan(prop(Kind.VOID_INVOICE), invoice(InvoiceStatus.UNCOLLECTIBLE)).stripe is not None


@pytest.mark.parametrize("kind", list(Kind))
def test_nothing_is_corrected_on_a_void_invoice(kind: Kind) -> None:
    with pytest.raises((Refused, InvalidInput)):
        plan(prop(kind), invoice(InvoiceStatus.VOID))


@pytest.mark.parametrize("kind", [Kind.HOLD, Kind.RELEASE])
def test_hold_and_release_after_finalization_are_refused(kind: Kind) -> None:
    with pytest.raises(Refused, match=f"{kind} refused"):
        plan(prop(kind), invoice(InvoiceStatus.OPEN, held_by="a"))


def test_hold_then_release() -> None:
    assert plan(prop(Kind.HOLD), invoice()).hold == "place"
    with pytest.raises(Refused, match="already held by ann"):
        plan(prop(Kind.HOLD), invoice(held_by="ann"))
    assert plan(prop(Kind.RELEASE), invoice(held_by="ann")).hold == "release"
    with pytest.raises(Refused, match="nothing to release"):
        plan(prop(Kind.RELEASE), invoice())


def test_credit_never_takes_the_total_below_zero() -> None:
    assert plan(prop(Kind.CREDIT, amount=10_000), invoice()).impact.total_after == 0
    with pytest.raises(Refused, match="never below"):
        plan(prop(Kind.CREDIT, amount=10_001), invoice())
    with pytest.raises(Refused, match="can still be credited"):
        plan(prop(Kind.CREDIT, amount=10_001), invoice(InvoiceStatus.OPEN))


def test_adjust_below_what_credits_allow_is_refused() -> None:
    # The lines bill 100.00 with an 80.00 credit on them: the usage line cannot drop to 0.
    with pytest.raises(Refused, match="never below"):
        plan(prop(Kind.ADJUST, line_id=7, amount=0), invoice(total=2_000), LINE)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"kind": Kind.ADJUST, "line_id": 7}, "exactly one of --amount or --quantity"),
        ({"kind": Kind.ADJUST, "line_id": 7, "amount": 1, "quantity": Decimal(1)}, "exactly one"),
        ({"kind": Kind.ADJUST, "amount": 1}, "needs --line"),
        ({"kind": Kind.VOID, "line_id": 7, "amount": 5}, "takes no --amount"),
        ({"kind": Kind.CREDIT}, "needs --amount"),
        ({"kind": Kind.CREDIT, "amount": 0}, "more than zero"),
        ({"kind": Kind.CREDIT, "amount": -5}, "--amount must be"),
        ({"kind": Kind.ONE_OFF, "amount": 5}, "needs --description"),
        ({"kind": Kind.HOLD, "line_id": 7}, "takes no --line"),
        ({"kind": Kind.CREDIT, "amount": 5, "reason": Reason.OTHER}, "requires --note"),
        (
            {"kind": Kind.CREDIT, "amount": 5, "reason": Reason.OTHER, "note": "  "},
            "requires --note",
        ),
        ({"kind": Kind.ADJUST, "line_id": 7, "quantity": Decimal(-1)}, "--quantity must be"),
    ],
)
def test_bad_options_are_named(kw: dict[str, object], message: str) -> None:
    kind = kw.pop("kind")
    with pytest.raises(InvalidInput, match=message):
        plan(prop(kind, **kw), invoice(), LINE)  # type: ignore[arg-type]


def test_other_with_a_note_is_accepted() -> None:
    assert plan(prop(Kind.CREDIT, amount=5, reason=Reason.OTHER, note="see ticket 4"), invoice())


def test_line_kinds_refuse_lines_made_by_corrections_and_void_lines() -> None:
    credit_line = LineView(
        8, "c1", "2026-01", "credit", "Credit: goodwill", Decimal(0), "usd", -5, -5, False, 1
    )
    with pytest.raises(Refused, match="undo that correction"):
        plan(prop(Kind.VOID, line_id=8), invoice(), credit_line)
    void_line = LineView(7, "c1", "2026-01", "usage", "x", Decimal(1), "usd", 10, 0, True, 4)
    with pytest.raises(Refused, match="undo the void first"):
        plan(prop(Kind.ADJUST, line_id=7, amount=5), invoice(), void_line)


def test_line_of_another_invoice_is_refused() -> None:
    other = LineView(7, "c2", "2026-01", "usage", "x", Decimal(1), "usd", 10, 10, False, 1)
    with pytest.raises(InvalidInput, match="belongs to c2"):
        plan(prop(Kind.VOID, line_id=7), invoice(), other)


def applied(kind: Kind, **kw: object) -> AppliedView:
    base: dict[str, object] = {
        "id": 11,
        "kind": kind,
        "status": Status.APPLIED,
        "customer_id": "c1",
        "period": "2026-01",
        "line_id": None,
        "created_line_id": None,
        "line_amount_before": None,
        "compiled_at_apply": None,
    }
    base.update(kw)
    return AppliedView(**base)  # type: ignore[arg-type]


def test_undo_of_an_adjust_restores_the_amount_plus_usage_since() -> None:
    original = applied(Kind.ADJUST, line_id=7, line_amount_before=10_000, compiled_at_apply=10_000)
    # Since the adjust to 40.00, 5.00 of usage arrived (compiled and billed both moved by it).
    line = LineView(7, "c1", "2026-01", "usage", "x", Decimal(1), "usd", 10_500, 4_500, False, 5)
    result = plan(prop(Kind.UNDO, reverts=11), invoice(total=4_500), line, original)
    assert result.line_change == LineChange(7, 10_500, voided=False)
    assert result.impact.change == 6_000
    assert result.line_version == 5


def test_undo_of_a_credit_voids_its_line() -> None:
    original = applied(Kind.CREDIT, created_line_id=9)
    line = LineView(
        9, "c1", "2026-01", "credit", "Credit: goodwill", Decimal(0), "usd", -700, -700, False, 1
    )
    result = plan(prop(Kind.UNDO, reverts=11), invoice(total=9_300), line, original)
    assert result.line_change == LineChange(9, 0, voided=True)
    assert result.impact.change == 700


def test_undo_refusals() -> None:
    line = LINE
    with pytest.raises(Refused, match="release the hold instead"):
        plan(prop(Kind.UNDO, reverts=11), invoice(), line, applied(Kind.HOLD))
    with pytest.raises(Refused, match="only an applied one"):
        plan(
            prop(Kind.UNDO, reverts=11),
            invoice(),
            line,
            applied(Kind.ADJUST, status=Status.REVERTED, line_id=7),
        )
    with pytest.raises(Refused, match="undo it first"):
        plan(
            prop(Kind.UNDO, reverts=11),
            invoice(),
            line,
            applied(
                Kind.ADJUST, line_id=7, line_amount_before=1, compiled_at_apply=1, superseded_by=12
            ),
        )
    with pytest.raises(Refused, match="can no longer be undone"):
        plan(
            prop(Kind.UNDO, reverts=11),
            invoice(InvoiceStatus.OPEN),
            line,
            applied(Kind.CREDIT, created_line_id=9),
        )
    # Undoing a one-off that the credits lean on would take the total below zero.
    one_off_line = LineView(
        9, "c1", "2026-01", "one-off", "fee", Decimal(0), "usd", 5_000, 5_000, False, 1
    )
    with pytest.raises(Refused, match="never below"):
        plan(
            prop(Kind.UNDO, reverts=11),
            invoice(total=1_000),
            one_off_line,
            applied(Kind.ONE_OFF, created_line_id=9),
        )


def test_state_machine() -> None:
    assert transition(1, Status.PENDING_APPROVAL, Status.APPROVED) is Status.APPROVED
    assert transition(1, Status.APPROVED, Status.LAPSED) is Status.LAPSED
    assert transition(1, Status.LAPSED, Status.APPROVED) is Status.APPROVED
    assert transition(1, Status.APPLIED, Status.REVERTED) is Status.REVERTED
    for current, target in [
        (Status.PENDING_APPROVAL, Status.APPLIED),
        (Status.APPLIED, Status.APPROVED),
        (Status.REJECTED, Status.APPROVED),
        (Status.REVERTED, Status.APPLIED),
        (Status.FAILED, Status.APPLIED),
    ]:
        with pytest.raises(Refused, match=f"is {current}: it cannot become {target}"):
            transition(1, current, target)


def test_binding_hash_changes_with_the_line_version_and_the_content() -> None:
    p = prop(Kind.ADJUST, line_id=7, amount=5)
    h = binding_hash(p.content(), 3, False)
    assert h == binding_hash(p.content(), 3, False)
    assert h != binding_hash(p.content(), 4, False)
    assert h != binding_hash(p.content(), 3, True)
    assert h != binding_hash(prop(Kind.ADJUST, line_id=7, amount=6).content(), 3, False)


def test_parsers_name_the_allowed_values() -> None:
    assert parse_kind("one-off") is Kind.ONE_OFF
    with pytest.raises(InvalidInput, match="adjust, void"):
        parse_kind("refund")
    with pytest.raises(InvalidInput, match="duplicate-charge"):
        parse_reason("because")

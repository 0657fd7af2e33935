"""The intervention dialogs against a real store: validation as the agent types, the preview of
the invoice total, "applies now" vs "goes to a lead" said before confirming, and submission
through the corrections service."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.domain.corrections import Reason, Status
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.reconcile import LocalLine
from billing_desk.services.corrections import Decision
from billing_desk.ui.bus import CORRECTIONS, ChangeBus
from billing_desk.ui.dialogs.actions import Action
from billing_desk.ui.dialogs.intervention import (
    InterventionDialog,
    InterventionTarget,
    parse_quantity,
)
from billing_desk.ui.operations import OperationRunner
from tests.integration.corrections_support import (
    PERIOD,
    add_staff,
    line,
    lines,
    seed,
    set_invoice,
    total,
)

WAIT_MS = 10_000


@pytest.fixture
def bus() -> ChangeBus:
    return ChangeBus()


@pytest.fixture
def runner(bus: ChangeBus) -> Iterator[OperationRunner]:
    runner = OperationRunner(bus)
    yield runner
    assert runner.shutdown()


@pytest.fixture
def line_ids(store: Engine) -> list[int]:
    """c1 with two usage lines, 300.00 and 120.00 USD (total 420.00); staff ann (agent),
    lee and lou (leads), ada (admin)."""
    ids = seed(store)
    add_staff(store)
    return ids


def local_line(engine: Engine, line_id: int) -> LocalLine:
    found = line(engine, line_id)
    return LocalLine(
        id=found.id,
        item=found.item,
        description=found.description,
        quantity=found.quantity,
        unit_amount=found.unit_amount,
        amount=found.amount,
        version=found.version,
        synced_version=found.synced_version,
        voided=found.voided,
        stripe_invoice_item=found.stripe_invoice_item,
    )


def open_dialog(
    qtbot: QtBot,
    engine: Engine,
    runner: OperationRunner,
    action: Action,
    actor: str = "ann",
    **target: object,
) -> InterventionDialog:
    dialog = InterventionDialog(
        action,
        InterventionTarget("c1", PERIOD, "usd", "Customer c1", **target),  # type: ignore[arg-type]
        engine=engine,
        actor=actor,
        runner=runner,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def type_into(qtbot: QtBot, dialog: InterventionDialog, edit_name: str, text: str) -> None:
    """Type `text` into the field like an agent and wait for the preview it triggers."""
    edit = getattr(dialog, edit_name)
    with qtbot.wait_signal(dialog.preview_ready, timeout=WAIT_MS):
        edit.clear()
        qtbot.keyClicks(edit, text)


def choose_reason(dialog: InterventionDialog, reason: Reason) -> None:
    index = dialog._reason.findData(reason.value)
    assert index > 0
    dialog._reason.setCurrentIndex(index)


def confirm(qtbot: QtBot, dialog: InterventionDialog) -> Decision:
    assert dialog._next.isEnabled(), dialog._problem.text()
    dialog._next.click()
    with qtbot.wait_signal(dialog.correction_submitted, timeout=WAIT_MS) as blocker:
        dialog._confirm.click()
    decision: Decision = blocker.args[0]
    return decision


def test_quantities_are_plain_decimals() -> None:
    assert parse_quantity(" 120.5 ") == Decimal("120.5")
    for bad in ("", "1e3", "-1", "1,000", "0.1234567890123"):
        with pytest.raises(InvalidInput):
            parse_quantity(bad)


def test_amounts_are_validated_as_the_agent_types(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    dialog = open_dialog(qtbot, store, runner, Action.CREDIT)
    assert dialog._problem.text() == "Enter the amount in USD."
    assert not dialog._next.isEnabled()
    qtbot.keyClicks(dialog._amount, "12.345")
    assert dialog._problem.text() == "Amount '12.345': USD takes at most 2 decimals."
    dialog._amount.setText("1,000")
    assert "is not a decimal number like 12.50" in dialog._problem.text()
    dialog._amount.setText("-5")
    assert dialog._problem.text() == "Amount '-5' must not be negative."
    type_into(qtbot, dialog, "_amount", "10")
    # The amount is fine: the preview shows, but a reason is still required.
    assert dialog._problem.text() == "Choose a reason."
    assert dialog._impact.text() == "Invoice total: 420.00 USD → 410.00 USD (−10.00)"
    assert not dialog._next.isEnabled()
    choose_reason(dialog, Reason.OTHER)
    assert dialog._problem.text() == "Reason Other needs a note saying what happened."
    assert not dialog._next.isEnabled()
    qtbot.keyClicks(dialog._note, "billed twice for the same seat")
    assert dialog._problem.isHidden()
    assert dialog._next.isEnabled()


def test_a_credit_within_the_limit_says_it_applies_now_and_does(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner, bus: ChangeBus
) -> None:
    dialog = open_dialog(qtbot, store, runner, Action.CREDIT)
    type_into(qtbot, dialog, "_amount", "25")
    choose_reason(dialog, Reason.SERVICE_OUTAGE)
    assert dialog._route.text() == "Applies now: within the agent limit."
    dialog._next.click()
    assert dialog._confirm.text() == "Apply now"
    summary = dialog._summary.text()
    assert "Credit 25.00 USD as a line “Credit: service-outage”" in summary
    assert "420.00 USD → 395.00 USD (−25.00)" in summary
    changes: list[object] = []
    bus.changed.connect(changes.append)
    decision = confirm(qtbot, dialog)
    assert decision.status is Status.APPLIED
    assert total(store) == 42_000 - 2_500
    assert dialog.result_text.startswith(f"Correction {decision.id} applied")
    qtbot.wait_until(lambda: bool(changes))
    assert changes[0].touches(CORRECTIONS, "c1")  # type: ignore[attr-defined]


def test_a_credit_above_the_limit_says_it_goes_to_a_lead_before_confirming(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    dialog = open_dialog(qtbot, store, runner, Action.CREDIT)
    type_into(qtbot, dialog, "_amount", "100.00")
    choose_reason(dialog, Reason.GOODWILL)
    assert dialog._route.text() == (
        "Goes to a lead for approval: its impact of 100.00 USD is above the agent limit of "
        "25.00 USD. Nothing changes until a lead approves it."
    )
    dialog._next.click()
    assert dialog._confirm.text() == "Send for approval"
    assert "Goes to a lead for approval" in dialog._confirm_route.text()
    decision = confirm(qtbot, dialog)
    assert decision.status is Status.PENDING_APPROVAL
    assert total(store) == 42_000  # nothing changes until a lead approves


def test_adjust_by_quantity_previews_the_line_and_the_total(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    first = line_ids[0]
    dialog = open_dialog(
        qtbot, store, runner, Action.ADJUST, actor="lee", line=local_line(store, first)
    )
    assert "Line 1: usage 0 — quantity 30,000, amount 300.00 USD" in dialog._context.text()
    dialog._set_quantity.setChecked(True)
    assert not dialog._amount.isEnabled()
    type_into(qtbot, dialog, "_quantity", "29000.4")
    assert dialog._impact.text() == (
        "Invoice total: 420.00 USD → 410.00 USD (−10.00)\nLine 1: 300.00 USD → 290.00 USD"
    )
    assert dialog._route.text() == "Applies now: within the lead limit."
    choose_reason(dialog, Reason.PRICING_ERROR)
    decision = confirm(qtbot, dialog)
    assert decision.status is Status.APPLIED
    assert line(store, first).amount == 29_000


def test_void_line_and_one_off_need_only_what_they_take(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    second = line_ids[1]
    void = open_dialog(
        qtbot, store, runner, Action.VOID_LINE, actor="lee", line=local_line(store, second)
    )
    qtbot.wait_signal(void.preview_ready, timeout=WAIT_MS).wait()
    assert void._impact.text().endswith("Line 2: 120.00 USD → 0.00 USD (void)")
    choose_reason(void, Reason.DUPLICATE_CHARGE)
    assert confirm(qtbot, void).status is Status.APPLIED
    assert line(store, second).voided

    one_off = open_dialog(qtbot, store, runner, Action.ONE_OFF)
    qtbot.keyClicks(one_off._amount, "19.99")
    assert one_off._problem.text() == "Enter a description: it is what the customer sees."
    type_into(qtbot, one_off, "_description", "Setup fee")
    choose_reason(one_off, Reason.GOODWILL)
    assert one_off._impact.text() == "Invoice total: 300.00 USD → 319.99 USD (+19.99)"
    assert confirm(qtbot, one_off).status is Status.APPLIED
    assert lines(store)[-1].description == "Setup fee"


def test_a_refused_preview_says_why_and_blocks_review(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    dialog = open_dialog(qtbot, store, runner, Action.CREDIT, actor="lee")
    type_into(qtbot, dialog, "_amount", "500")
    choose_reason(dialog, Reason.GOODWILL)
    assert dialog._impact.text() == (
        "Preview: This would take the invoice total for c1 2026-01 from 420.00 USD to "
        "-80.00 USD: credits may bring an invoice to zero, never below."
    )
    assert dialog._route.text() == ""
    assert not dialog._next.isEnabled()


def test_void_invoice_always_goes_to_a_lead_and_hold_applies_now(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    set_invoice(store, "open", total=42_000)
    void = open_dialog(qtbot, store, runner, Action.VOID_INVOICE, actor="lee")
    qtbot.wait_signal(void.preview_ready, timeout=WAIT_MS).wait()
    assert void._route.text().startswith(
        "Goes to a lead for approval: void-invoice always needs a lead's approval."
    )
    assert "Stripe voids the invoice" in void._impact.text()
    choose_reason(void, Reason.CUSTOMER_DISPUTE)
    assert confirm(qtbot, void).status is Status.PENDING_APPROVAL


def test_hold_then_release_by_whoever_placed_it(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    set_invoice(store, "draft", total=42_000)
    hold = open_dialog(qtbot, store, runner, Action.HOLD)
    qtbot.wait_signal(hold.preview_ready, timeout=WAIT_MS).wait()
    assert hold._impact.text().startswith("Invoice total stays 420.00 USD; the invoice will not")
    assert hold._route.text() == "Applies now."
    choose_reason(hold, Reason.CUSTOMER_DISPUTE)
    assert confirm(qtbot, hold).status is Status.APPLIED
    release = open_dialog(qtbot, store, runner, Action.RELEASE)
    qtbot.wait_signal(release.preview_ready, timeout=WAIT_MS).wait()
    assert release._route.text() == "Applies now."
    choose_reason(release, Reason.CUSTOMER_DISPUTE)
    release._next.click()
    assert "Release the hold placed by ann" in release._summary.text()
    release._back.click()
    assert confirm(qtbot, release).status is Status.APPLIED


def test_undo_reverts_an_applied_correction(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    one_off = open_dialog(qtbot, store, runner, Action.ONE_OFF)
    one_off._description.setText("Setup fee")
    type_into(qtbot, one_off, "_amount", "10")
    choose_reason(one_off, Reason.GOODWILL)
    applied = confirm(qtbot, one_off)
    undo = open_dialog(
        qtbot,
        store,
        runner,
        Action.UNDO,
        correction_id=applied.id,
        correction_summary="one-off charge “Setup fee” of 10.00 USD",
    )
    qtbot.wait_signal(undo.preview_ready, timeout=WAIT_MS).wait()
    assert undo._impact.text().startswith("Invoice total: 430.00 USD → 420.00 USD (−10.00)")
    choose_reason(undo, Reason.OTHER)
    qtbot.keyClicks(undo._note, "added to the wrong customer")
    assert confirm(qtbot, undo).status is Status.APPLIED
    assert total(store) == 42_000


def test_a_refused_submission_stays_in_the_dialog_in_plain_words(
    qtbot: QtBot, store: Engine, line_ids: list[int], runner: OperationRunner
) -> None:
    first = open_dialog(qtbot, store, runner, Action.CREDIT)
    type_into(qtbot, first, "_amount", "100")
    choose_reason(first, Reason.GOODWILL)
    pending = confirm(qtbot, first)
    second = open_dialog(qtbot, store, runner, Action.CREDIT)
    type_into(qtbot, second, "_amount", "50")
    choose_reason(second, Reason.GOODWILL)
    second._next.click()
    second._confirm.click()
    qtbot.wait_until(lambda: second._confirm.isEnabled(), timeout=WAIT_MS)
    assert second._status.text() == (
        f"Correction {pending.id} (credit, pending_approval) is already open on this target: "
        "it must be decided on first."
    )
    assert second.isVisible()
    assert "Traceback" not in second._status.text()


def test_proposing_on_both_backends(qtbot: QtBot, engine: Engine, runner: OperationRunner) -> None:
    seed(engine)
    add_staff(engine)
    dialog = open_dialog(qtbot, engine, runner, Action.CREDIT, actor="ann")
    type_into(qtbot, dialog, "_amount", "30")
    choose_reason(dialog, Reason.GOODWILL)
    assert dialog._route.text().startswith("Goes to a lead for approval")
    assert confirm(qtbot, dialog).status is Status.PENDING_APPROVAL


def test_the_first_person_to_act_on_a_new_store_gets_a_preview(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    seed(store)  # no staff yet: the first login to act becomes the store's admin
    dialog = open_dialog(qtbot, store, runner, Action.CREDIT, actor="first.person")
    type_into(qtbot, dialog, "_amount", "100")
    assert dialog._route.text() == "Applies now: within the admin limit."
    choose_reason(dialog, Reason.GOODWILL)
    assert confirm(qtbot, dialog).status is Status.APPLIED

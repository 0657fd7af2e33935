"""The approvals tab: models without widgets, then an agent proposing in one "app instance" and
a lead deciding in a second one on the same store; four-eyes said before anyone clicks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.domain.corrections import Kind, Reason, Status
from billing_desk.domain.policy import Role
from billing_desk.services.corrections import Decision
from billing_desk.services.corrections import propose as propose_correction
from billing_desk.services.finalization_gate import ApprovalRow, DraftRow
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.approvals import ApprovalsView, badge_text, decision_blocker
from billing_desk.ui.approvals_model import ApprovalsModel, DraftsModel
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.operations import OperationRunner
from tests.integration.corrections_support import (
    PERIOD,
    add_staff,
    proposal,
    seed,
    set_invoice,
    total,
)

WAIT_MS = 10_000
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def approval_row(cid: int, due_in: timedelta | None, **kw: object) -> ApprovalRow:
    values: dict[str, object] = {
        "id": cid,
        "customer_id": "c1",
        "period": PERIOD,
        "kind": "credit",
        "status": "pending_approval",
        "impact": -10_000,
        "currency": "usd",
        "requested_by": "ann",
        "requested_at": NOW - timedelta(hours=1),
        "reason": "goodwill",
        "note": None,
        "why": "its impact of 100.00 USD is above the agent limit of 25.00 USD",
        "due_at": None if due_in is None else NOW + due_in,
        "nearing_deadline": due_in is not None and due_in <= timedelta(hours=4),
    }
    values.update(kw)
    return ApprovalRow(**values)  # type: ignore[arg-type]


def test_approvals_model_shows_deadline_impact_and_reason_without_widgets() -> None:
    model = ApprovalsModel()
    soon = approval_row(1, timedelta(hours=2, minutes=5), note="billed twice")
    later = approval_row(2, timedelta(days=2), kind="void-invoice", impact=-42_000)
    unclosed = approval_row(3, None, status="lapsed", why="line 1 changed after approval")
    model.set_rows([soon, later, unclosed], NOW)
    text = [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(3)]
    assert text[0] == [
        "in 2 h 05 min",
        "c1 · 2026-01",
        "Credit",
        "−100.00 USD",
        "ann",
        "Goodwill: billed twice",
    ]
    assert text[1][0] == "in 2 d 0 h"
    assert text[1][2] == "Void invoice"
    assert text[2][0] == "not closed yet"
    assert text[2][2] == "Credit (lapsed)"
    deadline = model.index(0, ApprovalsModel.COL_DEADLINE)
    assert model.data(deadline, Qt.ItemDataRole.DecorationRole) is not None  # not colour alone
    assert model.data(model.index(1, 0), Qt.ItemDataRole.DecorationRole) is None
    assert model.data(deadline, SORT_ROLE) == soon.due_at
    assert model.data(model.index(2, 0), SORT_ROLE) is None
    assert model.data(model.index(1, ApprovalsModel.COL_IMPACT), SORT_ROLE) == 42_000
    assert model.data(model.index(2, ApprovalsModel.COL_KIND), Qt.ItemDataRole.ToolTipRole) == (
        "Lapsed: line 1 changed after approval"
    )
    assert model.data(model.index(1, 3), OBJECT_ROLE) is later


def test_drafts_model_says_what_blocks_each_draft() -> None:
    model = DraftsModel()
    blocked = DraftRow(
        "c1",
        PERIOD,
        "in_1",
        NOW - timedelta(minutes=5),
        True,
        ["held by ann since 2026-02-01 11:00 UTC", "correction 3 (credit by ann) awaits a lead"],
    )
    clear = DraftRow("c2", PERIOD, None, NOW + timedelta(hours=3), False, [])
    model.set_rows([blocked, clear], NOW)
    assert model.data(model.index(0, DraftsModel.COL_DUE)) == "due now"
    assert model.data(model.index(0, DraftsModel.COL_BLOCKERS)) == (
        "held by ann since 2026-02-01 11:00 UTC (+1 more)"
    )
    tooltip = model.data(model.index(0, DraftsModel.COL_BLOCKERS), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.count("\n") == 1
    assert model.data(model.index(1, DraftsModel.COL_BLOCKERS)) == "nothing"
    assert model.data(model.index(1, DraftsModel.COL_INVOICE)) == "being created"
    assert model.data(model.index(1, DraftsModel.COL_DUE)) == "in 3 h 00 min"
    assert model.data(model.index(0, DraftsModel.COL_BLOCKERS), SORT_ROLE) == 2


def test_badge_and_who_may_decide() -> None:
    assert badge_text(0) == "Approvals"
    assert badge_text(3) == "Approvals (3)"
    row = approval_row(1, None, requested_by="lee")
    assert decision_blocker("lee", Role.LEAD, row) is not None
    assert "four-eyes" in (decision_blocker("lee", Role.LEAD, row) or "")
    assert decision_blocker("lou", Role.LEAD, row) is None
    assert decision_blocker("ada", Role.ADMIN, row) is None
    assert decision_blocker("ann", Role.AGENT, row) == (
        "Only a lead or an admin approves or rejects corrections; you are an agent."
    )


# --- two app instances on one store ------------------------------------------------------


class Desk:
    """One "app instance": its own change bus, operation runner and approvals tab."""

    def __init__(self, qtbot: QtBot, engine: Engine, actor: str) -> None:
        self.bus = ChangeBus()
        self.runner = OperationRunner(self.bus)
        self.view = ApprovalsView(engine, actor, self.runner, self.bus)
        qtbot.addWidget(self.view)
        self.qtbot = qtbot

    def refresh(self) -> None:
        with self.qtbot.wait_signal(self.view.queues_loaded, timeout=WAIT_MS):
            self.view.refresh()

    def select(self, correction_id: int) -> None:
        assert self.view.select_correction(correction_id)

    def approve(self, note: str = "") -> Decision:
        self.view._note.setText(note)
        with self.qtbot.wait_signal(self.view.decision_made, timeout=WAIT_MS) as blocker:
            self.view._approve.click()
        decision: Decision = blocker.args[0]
        return decision

    def close(self) -> None:
        assert self.runner.shutdown()


@pytest.fixture
def desks(qtbot: QtBot, store: Engine) -> Iterator[dict[str, Desk]]:
    seed(store)
    add_staff(store)
    opened = {actor: Desk(qtbot, store, actor) for actor in ("ann", "lee", "lou")}
    yield opened
    for desk in opened.values():
        desk.close()


def propose(engine: Engine, actor: str, kind: Kind, **kw: object) -> Decision:
    with UnitOfWork(engine, write=True) as uow:
        return propose_correction(uow, actor, proposal(kind, **kw))


def test_a_lead_approves_in_a_second_instance_and_the_effect_is_in_the_store(
    qtbot: QtBot, store: Engine, desks: dict[str, Desk]
) -> None:
    agent, lead = desks["ann"], desks["lee"]
    with qtbot.wait_signal(lead.view.pending_count_changed, timeout=WAIT_MS) as counted:
        lead.refresh()
    assert counted.args == [0]
    pending = propose(store, "ann", Kind.CREDIT, amount=10_000, reason=Reason.GOODWILL)
    assert pending.status is Status.PENDING_APPROVAL
    with qtbot.wait_signal(lead.view.pending_count_changed, timeout=WAIT_MS) as counted:
        lead.refresh()
    assert counted.args == [1]
    assert badge_text(lead.view.pending_count) == "Approvals (1)"
    lead.select(pending.id)
    assert lead.view._approve.isEnabled()
    assert lead.view._why_not.isHidden()
    assert lead.view._detail_fields["Impact"].text() == "−100.00 USD on the invoice total"
    assert lead.view._detail_fields["Waiting because"].text() == (
        "its impact of 100.00 USD is above the agent limit of 25.00 USD"
    )
    # The requester sees the same correction, and why they cannot decide on it.
    agent.refresh()
    agent.select(pending.id)
    assert not agent.view._approve.isEnabled()
    assert not agent.view._reject.isEnabled()
    assert not agent.view._why_not.isHidden()
    assert agent.view._why_not.text().startswith("You requested this correction")

    decision = lead.approve("ok, outage confirmed")
    assert decision.status is Status.APPLIED
    assert lead.view.last_outcome == f"Correction {pending.id} approved and applied."
    assert total(store) == 42_000 - 10_000
    qtbot.wait_until(lambda: lead.view.pending_count == 0, timeout=WAIT_MS)


def test_the_requester_cannot_approve_their_own_correction_and_is_told_why(
    qtbot: QtBot, store: Engine, desks: dict[str, Desk]
) -> None:
    set_invoice(store, "open", total=42_000)
    own = propose(store, "lee", Kind.VOID_INVOICE, reason=Reason.CUSTOMER_DISPUTE)
    lee, lou = desks["lee"], desks["lou"]
    lee.refresh()
    lee.select(own.id)
    assert not lee.view._approve.isEnabled()
    assert lee.view._why_not.text() == (
        "You requested this correction, so another lead must approve or reject it (four-eyes)."
    )
    assert lee.view._approve.toolTip() == lee.view._why_not.text()
    lou.refresh()
    lou.select(own.id)
    assert lou.view._approve.isEnabled()
    assert lou.approve().status is Status.APPLIED


def test_rejecting_needs_a_note_and_opening_asks_for_the_side_by_side(
    qtbot: QtBot, store: Engine, desks: dict[str, Desk]
) -> None:
    pending = propose(store, "ann", Kind.CREDIT, amount=9_000, reason=Reason.GOODWILL)
    lee = desks["lee"]
    lee.refresh()
    lee.select(pending.id)
    lee.view._reject.click()
    assert lee.view._message.text() == (
        "Say why in the note before rejecting: the requester sees it."
    )
    lee.view._note.setText("not our outage")
    with qtbot.wait_signal(lee.view.decision_made, timeout=WAIT_MS) as blocker:
        lee.view._reject.click()
    assert blocker.args[0].status is Status.REJECTED
    assert total(store) == 42_000
    other = propose(store, "ann", Kind.CREDIT, amount=9_000, reason=Reason.GOODWILL)
    lee.refresh()
    lee.select(other.id)
    with qtbot.wait_signal(lee.view.customer_requested) as opened:
        lee.view._open.click()
    assert opened.args == ["c1", PERIOD]


def test_drafts_due_to_finalize_show_what_blocks_them(
    qtbot: QtBot, store: Engine, desks: dict[str, Desk]
) -> None:
    set_invoice(store, "draft", total=42_000, due_at=datetime.now(UTC) + timedelta(hours=1))
    propose(store, "ann", Kind.HOLD, reason=Reason.CUSTOMER_DISPUTE)
    lee = desks["lee"]
    lee.refresh()
    drafts = lee.view._drafts
    assert drafts.rowCount() == 1
    blockers = drafts.data(drafts.index(0, DraftsModel.COL_BLOCKERS))
    assert blockers.startswith("held by ann since")
    with qtbot.wait_signal(lee.view.customer_requested) as opened:
        lee.view._drafts_table.selectRow(0)
        lee.view._on_drafts_double_clicked()
    assert opened.args == ["c1", PERIOD]


def test_a_lead_approves_on_both_backends(qtbot: QtBot, engine: Engine) -> None:
    seed(engine)
    add_staff(engine)
    pending = propose(engine, "ann", Kind.CREDIT, amount=5_000, reason=Reason.GOODWILL)
    lead = Desk(qtbot, engine, "lee")
    try:
        lead.refresh()
        lead.select(pending.id)
        assert lead.approve().status is Status.APPLIED
        assert total(engine) == 42_000 - 5_000
    finally:
        lead.close()

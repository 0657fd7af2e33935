"""The sync panel's plain values and its table model, without widgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QModelIndex, Qt

from billing_desk.ui.sync_panel_model import (
    AttentionItem,
    AttentionModel,
    SyncSummary,
    WorkerState,
    notification_for,
    worker_state,
)

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _item(op: int, minutes: int, attempts: int = 1) -> AttentionItem:
    return AttentionItem(
        operation_id=op,
        customer_id=f"cust-{op}",
        operation="create invoice item",
        attempts=attempts,
        error="No such customer: 'cus_gone'\nrequest id req_1",
        since=T0 + timedelta(minutes=minutes),
    )


def test_summary_text_names_state_progress_queue_and_attention() -> None:
    assert SyncSummary().text() == "Up to date"
    busy = SyncSummary(WorkerState.RUNNING, outbox_depth=1200, attention=1, progress=(5, 2000))
    assert busy.text() == "Syncing 5/2,000 · 1,200 waiting · 1 needs attention"
    stopped = SyncSummary(WorkerState.STOPPED, reason="Stripe rejected the API key")
    assert stopped.detail() == "Stopped\nStripe rejected the API key"


def test_unknown_state_names_read_as_stopped() -> None:
    assert worker_state("backing_off") is WorkerState.BACKING_OFF
    assert worker_state("exploded") is WorkerState.STOPPED


def test_notifications_only_for_what_a_person_must_act_on() -> None:
    running = SyncSummary(WorkerState.RUNNING)
    backing_off = SyncSummary(WorkerState.BACKING_OFF, reason="Stripe answered 429")
    stopped = SyncSummary(WorkerState.STOPPED, reason="Stripe rejected the API key")
    assert notification_for(None, running) is None
    assert notification_for(running, backing_off) is None
    assert notification_for(backing_off, stopped) == (
        "Billing Desk stopped syncing",
        "Stripe rejected the API key",
    )
    assert notification_for(stopped, stopped) is None
    one = SyncSummary(WorkerState.RUNNING, attention=1)
    three = SyncSummary(WorkerState.RUNNING, attention=3)
    assert notification_for(running, one) is not None
    _title, message = notification_for(one, three) or ("", "")
    assert message.startswith("2 operations need attention")
    assert notification_for(three, one) is None


def test_attention_model_rows_roles_and_sort_values() -> None:
    model = AttentionModel()
    assert model.rowCount() == 0
    rows = [_item(1, 0, attempts=3), _item(2, 30)]
    model.set_rows(rows)
    assert model.rowCount() == 2
    assert model.columnCount() == len(AttentionModel.HEADERS)
    assert model.rowCount(model.index(0, 0)) == 0  # a flat table
    error = model.index(0, AttentionModel.COL_ERROR)
    assert model.data(error) == "No such customer: 'cus_gone'"
    assert model.data(error, Qt.ItemDataRole.ToolTipRole).endswith("req_1")
    attempts = model.index(0, AttentionModel.COL_ATTEMPTS)
    assert model.data(attempts, AttentionModel.SORT_ROLE) == 3
    since = [model.data(model.index(r, 0), AttentionModel.SORT_ROLE) for r in range(2)]
    assert since[0] < since[1]
    assert model.data(model.index(1, 0), AttentionModel.OBJECT_ROLE) is rows[1]
    assert model.data(QModelIndex()) is None
    assert model.headerData(AttentionModel.COL_ERROR, Qt.Orientation.Horizontal) == "Stripe said"

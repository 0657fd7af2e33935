"""The sync panel driven by the real sync worker (on its QThread) and the real store, with Stripe
failures injected through the sandbox: backing off, a rejected key, a permanent refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, select

from billing_desk.domain.settings import Settings
from billing_desk.store.models import Customer, OutboxOperation
from billing_desk.store.models.corrections import AuditRow
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy
from billing_desk.sync.engine import SyncEngine
from billing_desk.ui.adapters import retry_operation
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.sync_panel import SyncPanel
from billing_desk.ui.sync_panel_model import SyncSummary, WorkerState
from billing_desk.ui.sync_panel_reads import read_sync_figures
from billing_desk.ui.sync_panel_status import SyncNotifier, SyncStatusWidget
from billing_desk.ui.sync_worker import SyncThread, SyncWorker, WorkerOptions
from tests.conftest import StripeSandbox
from tests.integration.sync_seed import FAST, seed

WAIT_MS = 20_000
RETRY = RetryPolicy(attempts=3, base_s=0.02, cap_s=0.1)


@pytest.fixture
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner(ChangeBus())
    yield runner
    assert runner.shutdown()


def no_retry(operation_id: int) -> None:
    raise AssertionError(f"retry of {operation_id} was not asked for")


def make_panel(
    qtbot: QtBot, store: Engine, runner: OperationRunner, retry: Callable[[int], object] = no_retry
) -> SyncPanel:
    panel = SyncPanel(runner, partial(read_sync_figures, store), retry)
    qtbot.addWidget(panel)
    return panel


def read(qtbot: QtBot, panel: SyncPanel) -> None:
    with qtbot.wait_signal(panel.figures_read, timeout=WAIT_MS):
        panel.refresh()


class Worker:
    """The app's sync worker on its own thread, its signals wired to the panel as the main
    window wires them."""

    def __init__(self, qtbot: QtBot, store: Engine, key: str, base: str, panel: SyncPanel) -> None:
        options = WorkerOptions(engine=FAST, events_every_s=3600, idle_poll_s=0.2)
        self.worker = SyncWorker(store, GatewayConfig(key, base, timeout_s=5, retry=RETRY), options)
        self.worker.state_changed.connect(panel.show_worker_state)
        self.worker.progress_changed.connect(panel.show_progress)
        # A plain callable, not the worker's bound method: the worker's thread runs asyncio,
        # not a Qt event loop, so a queued call to it would never run; set_paused only posts.
        panel.pause_requested.connect(lambda paused: self.worker.set_paused(paused))
        self.thread = SyncThread(self.worker)
        self.qtbot = qtbot

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self.qtbot.wait_signal(self.thread.finished, timeout=WAIT_MS):
            self.thread.stop()
        assert self.thread.wait(5000)


def test_a_rejected_key_stops_the_worker_and_says_why_everywhere(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    seed(store, customers=1, lines_per_customer=1)
    panel = make_panel(qtbot, store, runner)
    status = SyncStatusWidget()
    qtbot.addWidget(status)
    notifier = SyncNotifier()
    panel.summary_changed.connect(status.show_summary)
    panel.summary_changed.connect(notifier.on_summary)
    notes: list[tuple[str, str]] = []
    notifier.notified.connect(lambda title, text: notes.append((title, text)))
    worker = Worker(qtbot, store, "sk_live_not_a_sandbox_key", stripe_sandbox.url, panel)
    with qtbot.wait_signal(worker.thread.finished, timeout=WAIT_MS):
        worker.thread.start()
    assert worker.thread.wait(5000)
    assert panel.summary.state is WorkerState.STOPPED
    reason = "Stripe rejected the API key; check the key in Settings"
    assert panel.summary.reason == reason
    assert reason in panel._state_text.text()
    assert not panel._sync_now.isEnabled()
    assert status.text() == "Stopped"
    assert reason in status.toolTip()
    assert notes == [("Billing Desk stopped syncing", reason)]


def test_stripe_failing_shows_backing_off_then_recovery(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    seed(store, customers=2, lines_per_customer=2)
    panel = make_panel(qtbot, store, runner)
    stripe_sandbox.admin.configure(fail_rate=1.0)
    with Worker(qtbot, store, stripe_sandbox.api_key, stripe_sandbox.url, panel):
        qtbot.wait_until(lambda: panel.summary.state is WorkerState.BACKING_OFF, timeout=WAIT_MS)
        assert "retrying" in panel.summary.reason or "retried" in panel.summary.reason
        assert "Backing off" in panel._state_text.text()
        stripe_sandbox.admin.configure(fail_rate=0.0)
        qtbot.wait_until(lambda: panel.summary.state is WorkerState.IDLE, timeout=WAIT_MS)
        read(qtbot, panel)
        assert panel.summary.outbox_depth == 0
        hours = panel._chart._hours
        assert sum(h.calls for h in hours) >= 6
        assert sum(h.failed for h in hours) >= 1  # the 500s are on the chart too
        assert "calls in 24 h" in panel._chart.accessibleDescription()


def test_pause_and_resume_through_the_panel(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    panel = make_panel(qtbot, store, runner)
    with Worker(qtbot, store, stripe_sandbox.api_key, stripe_sandbox.url, panel):
        qtbot.wait_until(lambda: panel.summary.state is WorkerState.IDLE, timeout=WAIT_MS)
        with qtbot.wait_signal(panel.pause_requested) as asked:
            panel._pause.click()
        assert asked.args == [True]
        qtbot.wait_until(lambda: panel.summary.state is WorkerState.PAUSED, timeout=WAIT_MS)
        assert panel._pause.text() == "Resume"
        panel._pause.click()
        qtbot.wait_until(lambda: panel.summary.state is not WorkerState.PAUSED, timeout=WAIT_MS)
        assert panel._pause.text() == "Pause"
        with qtbot.wait_signal(panel.sync_requested):
            panel._sync_now.click()


def test_a_permanent_refusal_needs_attention_with_stripes_words(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    seeded = seed(store, customers=2, lines_per_customer=2)
    client = stripe_sandbox.client()
    gone = client.v1.customers.create({"name": "gone"})
    client.v1.customers.delete(gone.id)
    with UnitOfWork(store, write=True) as uow:
        row = uow.session.get(Customer, seeded.customers[0])
        assert row is not None
        row.stripe_customer_id = gone.id
        uow.commit()
    stripe_sandbox.admin.configure(fail_rate=0.2)  # transient trouble on top: retried, not shown
    sync = SyncEngine(
        store,
        GatewayConfig(stripe_sandbox.api_key, stripe_sandbox.url, timeout_s=5, retry=RETRY),
        Settings(sync_interval=timedelta(0)),
        config=FAST,
    )
    summary = asyncio.run(sync.run_once())
    assert summary.needs_attention == 2

    panel = make_panel(qtbot, store, runner, partial(retry_operation, store, "lee"))
    with qtbot.wait_signal(panel.summary_changed, timeout=WAIT_MS):
        read(qtbot, panel)
    assert panel.summary.attention == 2
    assert "Needs attention: <b>2</b>" in panel._attention_count.text()
    model = panel._model
    assert model.rowCount() == 2
    items = model.rows()
    assert {i.customer_id for i in items} == {seeded.customers[0]}
    assert all(i.operation.startswith("push line") and "(2026-10)" in i.operation for i in items)
    assert all("customer" in i.error.lower() for i in items)
    assert not panel._retry.isEnabled()
    panel._table.selectRow(0)
    assert panel._retry.isEnabled()
    assert panel._details.isEnabled()
    with qtbot.wait_signal(panel.customer_requested) as opened:
        panel._open_customer.click()
    assert opened.args == [seeded.customers[0], "2026-10"]
    panel._details.click()
    box = panel.findChild(QMessageBox)
    assert box is not None
    assert "Stripe said:" in box.informativeText()
    assert "Traceback" not in box.informativeText()
    box.done(0)

    retried = panel._model.rows()[0].operation_id
    with qtbot.wait_signal(panel.sync_requested, timeout=WAIT_MS):
        panel._retry.click()
    assert panel._message.text() == (
        f"Operation {retried} is back in the queue; the worker will send it next."
    )
    qtbot.wait_until(lambda: panel.summary.attention == 1, timeout=WAIT_MS)
    with UnitOfWork(store) as uow:
        op = uow.session.get(OutboxOperation, retried)
        assert op is not None
        assert op.state == "pending"
        audited = uow.session.scalars(
            select(AuditRow.actor).where(AuditRow.action == "sync.retry_requested")
        ).all()
    assert audited == ["lee"]


def test_progress_and_summary_without_a_worker(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    panel = make_panel(qtbot, store, runner)
    summaries: list[SyncSummary] = []
    panel.summary_changed.connect(summaries.append)
    panel.show_worker_state("running")
    panel.show_progress(120, 2000, "Closing out 2026-10")
    assert not panel._progress.isHidden()
    assert panel._progress.text() == "Closing out 2026-10: 120 of 2,000"
    assert summaries[-1].text() == "Syncing 120/2,000"
    panel.show_progress(0, 0)
    assert panel._progress.isHidden()
    assert summaries[-1].progress is None
    status = SyncStatusWidget()
    qtbot.addWidget(status)
    status.show_summary(summaries[-1])
    with qtbot.wait_signal(status.activated):
        qtbot.mouseClick(status, Qt.MouseButton.LeftButton)
    with qtbot.wait_signal(status.activated):
        status.setFocus()
        qtbot.keyClick(status, Qt.Key.Key_Return)

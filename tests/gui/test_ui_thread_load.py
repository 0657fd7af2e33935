"""What keeps the UI thread's share of the work small while the sync worker runs: progress
throttled on the worker's side, the gateway (and the stripe library) made on the worker's
thread, views re-read only while shown, re-read rows told to the views as changes (not resets)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.stripe_gateway import GatewayConfig
from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.refresh_while_shown import RefreshWhileShown
from billing_desk.ui.sync_panel_model import AttentionItem, AttentionModel
from billing_desk.ui.sync_worker import ProgressThrottle, SyncThread, SyncWorker

WAIT_MS = 10_000
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _throttled(
    reports: list[tuple[int, int]], every_s: float
) -> tuple[list[tuple[int, int]], float]:
    """Feed `reports` through a throttle as fast as the loop turns; what got through and how
    long the feeding took (by the loop's clock)."""
    sent: list[tuple[int, int]] = []

    async def feed() -> float:
        loop = asyncio.get_running_loop()
        throttle = ProgressThrottle(loop, lambda done, total: sent.append((done, total)), every_s)
        started = loop.time()
        for done, total in reports:
            throttle.report(done, total)
            await asyncio.sleep(0.001)
        elapsed = loop.time() - started
        await asyncio.sleep(every_s * 2)  # the trailing report goes out on its own
        return elapsed

    return sent, asyncio.run(feed())


def test_progress_goes_out_at_most_once_an_interval_and_the_latest_always_follows() -> None:
    reports = [(done, 300) for done in range(301)]
    sent, elapsed = _throttled(reports, every_s=0.05)
    assert sent[0] == (0, 300)  # the first goes at once
    assert sent[-1] == (300, 300)  # the latest is never lost
    assert len(sent) <= elapsed / 0.05 + 2  # one per interval (and the trailing one)
    assert len(sent) < len(reports) / 5
    assert sent == sorted(sent)


def test_a_flush_sends_what_is_pending_at_once() -> None:
    sent: list[tuple[int, int]] = []

    async def run() -> None:
        throttle = ProgressThrottle(asyncio.get_running_loop(), lambda d, t: sent.append((d, t)))
        throttle.report(0, 10)
        throttle.report(4, 10)  # within the interval: held back
        assert sent == [(0, 10)]
        throttle.flush()  # e.g. the pass ended: its last figure before the new state
        assert sent == [(0, 10), (4, 10)]
        throttle.flush()  # nothing pending: nothing sent twice
        await asyncio.sleep(0.2)

    asyncio.run(run())
    assert sent == [(0, 10), (4, 10)]


def test_the_worker_makes_the_gateway_config_on_its_own_thread(qtbot: QtBot, store: Engine) -> None:
    made_on: list[threading.Thread] = []

    def no_key() -> GatewayConfig | None:
        made_on.append(threading.current_thread())
        return None  # the key was removed meanwhile: the worker stops and says why

    worker = SyncWorker(store, no_key)
    states: list[tuple[str, str]] = []
    worker.state_changed.connect(lambda state, reason: states.append((state, reason)))
    thread = SyncThread(worker)
    with qtbot.wait_signal(thread.finished, timeout=WAIT_MS):
        thread.start()
    assert made_on
    assert made_on[0] is not threading.main_thread()
    assert states[-1] == ("stopped", "no Stripe key is configured")


class _View(QWidget):
    def __init__(self, every_ms: int | None) -> None:
        super().__init__()
        self.reads = 0
        self.refresher = RefreshWhileShown(self, self._read, every_ms)

    def _read(self) -> None:
        self.reads += 1

    def showEvent(self, event: object) -> None:
        self.refresher.shown()

    def hideEvent(self, event: object) -> None:
        self.refresher.hidden()


def test_a_hidden_view_reads_nothing_and_catches_up_when_shown(qtbot: QtBot) -> None:
    view = _View(every_ms=None)
    qtbot.addWidget(view)
    view.refresher.changed()
    view.refresher.changed()
    assert view.reads == 0
    view.show()
    assert view.reads == 1  # the first show reads, once for both changes
    view.hide()
    view.show()
    assert view.reads == 1  # nothing changed: the page (and its scroll position) stays
    view.refresher.changed()
    assert view.reads == 2  # shown: at once
    view.hide()
    view.refresher.changed()
    assert view.reads == 2
    view.show()
    assert view.reads == 3


def test_a_periodic_view_reads_on_every_show_and_on_its_timer_only_while_shown(
    qtbot: QtBot,
) -> None:
    view = _View(every_ms=20)
    qtbot.addWidget(view)
    assert not view.refresher.periodic
    view.show()
    assert view.reads == 1
    assert view.refresher.periodic
    qtbot.wait_until(lambda: view.reads >= 3, timeout=WAIT_MS)
    view.hide()
    assert not view.refresher.periodic
    reads = view.reads
    qtbot.wait(100)
    assert view.reads == reads
    view.show()
    assert view.reads == reads + 1


def _op(operation_id: int, attempts: int = 1) -> AttentionItem:
    return AttentionItem(
        operation_id, f"c-{operation_id:04d}", "push", attempts, "refused", NOW, "2026-10"
    )


def _ids(model: AttentionModel) -> list[int]:
    return [row.operation_id for row in model.rows()]


def test_new_rows_arrive_as_inserts_removals_and_changes_not_a_reset(
    qtmodeltester: ModelTester,
) -> None:
    model = AttentionModel()
    model.sort(AttentionModel.COL_CUSTOMER, Qt.SortOrder.AscendingOrder)
    model.set_rows([_op(n) for n in range(1, 101)])
    qtmodeltester.check(model)  # and it checks every change that follows
    selection = QItemSelectionModel(model)
    selection.select(model.index(49, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    resets: list[int] = []
    changes: list[tuple[str, int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda _p, first, last: changes.append(("insert", first, last)))
    model.rowsRemoved.connect(lambda _p, first, last: changes.append(("remove", first, last)))
    model.dataChanged.connect(lambda a, b: changes.append(("change", a.row(), b.row())))

    # Re-read: 1 and 2 gone, 7 retried once more, 101 and 102 new (sorted to the end).
    model.set_rows([_op(7, 2) if n == 7 else _op(n) for n in range(3, 103)])

    assert not resets
    assert _ids(model) == list(range(3, 103))
    # Told from the end, so each position is the row's place at that moment.
    assert changes == [("insert", 100, 101), ("change", 6, 6), ("remove", 0, 1)]
    (kept,) = selection.selectedIndexes()
    assert kept.data(OBJECT_ROLE).operation_id == 50  # the selection followed its row

    model.set_rows(list(reversed(model.rows())))  # the same rows: nothing to tell
    assert not resets
    assert len(changes) == 3
    model.set_rows([_op(n) for n in range(500, 600)])  # all new: one reset says it best
    assert resets == [1]

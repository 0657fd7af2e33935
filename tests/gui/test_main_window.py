"""The main window end to end: search as you type with badges, open a customer, shortcuts,
remembered geometry and columns, and a clean shutdown in the middle of a sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, func, select

from billing_desk.config import STRIPE_KEY_ENTRY, MemorySecrets
from billing_desk.domain.corrections import Kind, Proposal, Reason
from billing_desk.services import corrections, staff
from billing_desk.store.models import Line, OutboxOperation
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.crash import CrashReporter
from billing_desk.ui.main_window import MainWindow
from billing_desk.ui.models.search_results import SearchResult
from billing_desk.ui.persist import UiState
from billing_desk.ui.sync_worker import WorkerOptions
from billing_desk.ui.theme import ACCENTS, apply_palette, palette_for
from billing_desk.ui.workspace import Workspace
from tests.conftest import StripeSandbox
from tests.gui import seed


@pytest.fixture
def crash_reporter(crash_dir: Path) -> CrashReporter:
    return CrashReporter(crash_dir, show_dialog=False)


def _window(
    qtbot: QtBot,
    store: Engine,
    ui_state: UiState,
    reporter: CrashReporter,
    sandbox: StripeSandbox | None = None,
    *,
    start_worker: bool = False,
) -> MainWindow:
    secrets = MemorySecrets({STRIPE_KEY_ENTRY: sandbox.api_key} if sandbox else {})
    workspace = Workspace(
        store,
        "sqlite:///desk",
        "lead.lee",
        sandbox.url if sandbox else "http://127.0.0.1:9",
        secrets,
        worker_options=WorkerOptions(events_every_s=3600),
    )
    window = MainWindow(workspace, ui_state, reporter, start_worker=start_worker)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.wait_until(window.isActiveWindow)
    return window


def _close(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.wait_signal(window.closed, timeout=10_000):
        window.close()


@pytest.fixture
def badged(store: Engine, stripe_sandbox: StripeSandbox) -> dict[str, str]:
    """One customer per badge, all named Baker so one search finds them all."""
    url, key = stripe_sandbox.url, stripe_sandbox.api_key
    names = {
        "drift": "Baker Drift Co",
        "pending": "Baker Pending Co",
        "hold": "Baker Hold Co",
        "error": "Baker Error Co",
        "due": "Baker Due Co",
        "plain": "Baker Plain Co",
    }
    rows = [seed.customer(i, name) for i, name in enumerate(names.values(), start=10)]
    rows[3]["stripe_customer_id"] = "cus_DoesNotExist1"  # pushes to it fail for good
    seed.add_customers(store, rows)
    ids = {key_: row["id"] for key_, row in zip(names, rows, strict=True)}
    # Closed first, alone: the only customer with an invoice (a draft, so an amount due).
    seed.add_usage(store, ids["due"], "api.calls", [100, 200], unit_amount="2")
    seed.push(store, url, key, ids["due"])
    seed.close_and_pull(store, url, key, ids["due"])
    for which in ("drift", "pending", "hold", "error", "plain"):
        seed.add_usage(store, ids[which], "api.calls", [5000, 5000], unit_amount="2")
    for which in ("drift", "error", "plain"):
        seed.push(store, url, key, ids[which])
    _, item = seed.line_item(store, ids["drift"], "api.calls")
    assert item is not None
    stripe_sandbox.client().v1.invoice_items.update(item, {"amount": 999})
    for which in ("drift", "plain"):
        seed.pull(store, url, key, ids[which])
    with UnitOfWork(store, write=True) as uow:
        staff.add(uow, "admin.ada", "agent.alice", "agent")
    with UnitOfWork(store, write=True) as uow:
        corrections.propose(
            uow,
            "agent.alice",
            Proposal(Kind.CREDIT, ids["pending"], seed.PERIOD, Reason.GOODWILL, amount=9000),
        )
    with UnitOfWork(store, write=True) as uow:
        corrections.propose(
            uow,
            "agent.alice",
            Proposal(Kind.HOLD, ids["hold"], seed.PERIOD, Reason.CUSTOMER_DISPUTE, note="x"),
        )
    return ids


def test_search_as_you_type_shows_each_badge(
    qtbot: QtBot,
    store: Engine,
    ui_state: UiState,
    crash_reporter: CrashReporter,
    badged: dict[str, str],
) -> None:
    window = _window(qtbot, store, ui_state, crash_reporter)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.search.field.hasFocus()
    with qtbot.wait_signal(window.search.results_shown) as shown:
        qtbot.keyClicks(window.search.field, "bak")
    assert shown.args[0] == "bak"
    model = window.search.model
    qtbot.wait_until(
        lambda: all(model.result_at(r).badges is not None for r in range(model.rowCount()))
    )
    badges: dict[str, list[str]] = {}
    for r in range(model.rowCount()):
        result: SearchResult = model.result_at(r)
        badges[result.hit.id] = [badge.text for badge in result.badge_list]
    assert badges[badged["drift"]] == ["Drift"]
    assert badges[badged["pending"]] == ["1 pending"]
    assert badges[badged["hold"]] == ["Hold"]
    assert badges[badged["error"]] == ["Sync error"]
    assert badges[badged["due"]] == ["6.00 USD due"]
    assert badges[badged["plain"]] == []
    spoken = model.index(0, 0).data(Qt.ItemDataRole.AccessibleTextRole)
    assert "Baker" in spoken
    # The customer whose period is closed: its draft, its deadline, its Stripe pages.
    with qtbot.wait_signal(window.customer.customer_loaded):
        window.open_customer(badged["due"])
    header = window.customer.header
    assert header.status.text().startswith("Stripe invoice: Draft · total 6.00 USD")
    assert header.deadline.text().startswith("Finalizes in 23 h")
    opened: list[str] = []
    handler = _UrlCatcher(opened)
    QDesktopServices.setUrlHandler("https", handler, "catch")
    try:
        links = header.links.text()
        assert "Invoice in Stripe Dashboard" in links
        invoice_url = links.split('href="')[2].split('"')[0]
        header.links.linkActivated.emit(invoice_url)
    finally:
        QDesktopServices.unsetUrlHandler("https")
    assert opened == [invoice_url]
    assert invoice_url.startswith("https://dashboard.stripe.com/test/invoices/in_")
    _close(qtbot, window)


class _UrlCatcher(QObject):
    """Stands in for the desktop's browser (QDesktopServices.setUrlHandler)."""

    def __init__(self, opened: list[str]) -> None:
        super().__init__()
        self._opened = opened

    @Slot(QUrl)
    def catch(self, url: QUrl) -> None:
        self._opened.append(url.toString())


def test_typing_on_shows_only_the_latest_results_and_enter_opens_the_first(
    qtbot: QtBot, store: Engine, ui_state: UiState, crash_reporter: CrashReporter
) -> None:
    seed.add_customers(
        store,
        [
            seed.customer(1, "Sarah Smith"),
            seed.customer(2, "Sam Jones"),
            seed.customer(3, "Ann Lee"),
        ],
    )
    seed.add_usage(store, "c-0001", "api.calls", [10], unit_amount="2")
    window = _window(qtbot, store, ui_state, crash_reporter)
    window.focus_search()
    qtbot.keyClicks(window.search.field, "sa")
    qtbot.wait_until(lambda: window.search.model.rowCount() == 2)
    with qtbot.wait_signal(window.search.results_shown) as shown:
        qtbot.keyClicks(window.search.field, "rah")
    assert shown.args == ["sarah", 1]
    with qtbot.wait_signal(window.customer.customer_loaded) as loaded:
        qtbot.keyClick(window.search.field, Qt.Key.Key_Return)
    assert loaded.args == ["c-0001"]
    assert window.windowTitle() == "Sarah Smith — Billing Desk"
    qtbot.keyClick(window.search.field, Qt.Key.Key_Escape)
    assert window.search.field.text() == ""
    _close(qtbot, window)


def test_every_action_has_a_shortcut_and_controls_have_names(
    qtbot: QtBot, store: Engine, ui_state: UiState, crash_reporter: CrashReporter
) -> None:
    window = _window(qtbot, store, ui_state, crash_reporter)
    for action in window.findChildren(type(window.action("quit"))):
        if action.text() and not action.isSeparator() and action.menu() is None:
            assert not action.shortcut().isEmpty(), action.text()
    for name in ("search", "refresh", "sync_now", "previous_period", "next_period", "quit"):
        assert not window.action(name).shortcut().isEmpty()
    assert window.search.field.accessibleName() == "Search customers"
    assert window.customer.side_by_side.table.accessibleName()
    _close(qtbot, window)


def test_geometry_and_column_widths_are_remembered(
    qtbot: QtBot, store: Engine, ui_state: UiState, crash_reporter: CrashReporter
) -> None:
    window = _window(qtbot, store, ui_state, crash_reporter)
    window.resize(761, 541)  # inside the offscreen screen, which restoreGeometry respects
    header = window.customer.side_by_side.table.horizontalHeader()
    header.resizeSection(0, 222)
    _close(qtbot, window)
    again = _window(qtbot, store, ui_state, crash_reporter)
    assert (again.width(), again.height()) == (761, 541)
    assert again.customer.side_by_side.table.horizontalHeader().sectionSize(0) == 222
    _close(qtbot, again)


def test_closing_mid_sync_stops_the_worker_and_loses_nothing(
    qtbot: QtBot,
    store: Engine,
    ui_state: UiState,
    crash_reporter: CrashReporter,
    stripe_sandbox: StripeSandbox,
) -> None:
    seed.add_customers(store, [seed.customer(1, "Busy Corp")])
    for k in range(40):
        seed.add_usage(store, "c-0001", f"item.{k:02d}", [k + 1], unit_amount="3")
    stripe_sandbox.admin.configure(latency_ms=150)
    window = _window(qtbot, store, ui_state, crash_reporter, stripe_sandbox, start_worker=True)
    qtbot.wait_until(lambda: window.worker is not None)  # it starts once the window is up
    worker = window.worker
    assert worker is not None
    progress: list[int] = []
    window.sync_progress.connect(lambda done, _total: progress.append(done))
    worker.request_push("c-0001")
    qtbot.wait_until(lambda: bool(progress) and progress[-1] >= 5, timeout=20_000)
    thread = window.sync_thread
    assert thread is not None
    assert thread.running
    _close(qtbot, window)
    assert not thread.running
    with UnitOfWork(store) as uow:
        s = uow.session
        synced = s.scalar(select(func.count()).where(Line.sync_state == "synced"))
        states = dict(
            s.execute(
                select(OutboxOperation.state, func.count()).group_by(OutboxOperation.state)
            ).all()
        )
    # Every operation is either done or waiting for the next run; none is left claimed.
    assert set(states) <= {"pending", "done"}
    assert synced is not None
    assert 5 <= synced <= 40
    items = stripe_sandbox.client().v1.invoice_items.list({"limit": 100})
    assert len(items.data) == synced  # nothing sent twice, nothing sent without a record


def test_interventions_follow_the_invoice_and_the_approvals_tab_counts(
    qtbot: QtBot, store: Engine, ui_state: UiState, crash_reporter: CrashReporter
) -> None:
    seed.add_customers(store, [seed.customer(5, "Ember Foods")])
    seed.add_usage(store, "c-0005", "api.calls", [5000, 5000], unit_amount="2")
    for login, role in (("agent.alice", "agent"), ("lead.lee", "lead")):
        with UnitOfWork(store, write=True) as uow:
            staff.add(uow, "admin.ada", login, role)
    with UnitOfWork(store, write=True) as uow:
        corrections.propose(
            uow,
            "agent.alice",
            Proposal(Kind.CREDIT, "c-0005", seed.PERIOD, Reason.GOODWILL, amount=9000),
        )
    window = _window(qtbot, store, ui_state, crash_reporter)
    qtbot.wait_until(lambda: window.tabs.tabText(1) == "Approvals (1)")
    with qtbot.wait_signal(window.customer.customer_loaded):
        window.open_customer("c-0005")
    assert window.customer.waiting.text() == (
        "Waiting: Credit \u221290.00 by agent.alice, waiting for approval."
    )
    adjust = window.action("intervene_adjust")
    credit = window.action("intervene_credit")
    assert credit.isEnabled()
    assert not adjust.isEnabled()
    assert adjust.toolTip().startswith("Select a usage line")
    assert not window.action("intervene_void-invoice").isEnabled()
    window.customer.side_by_side.table.selectRow(0)
    assert adjust.isEnabled()
    window.customer.side_by_side.table.setFocus()
    qtbot.keyClick(
        window.customer.side_by_side.table,
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog = window.last_dialog
    assert dialog is not None
    qtbot.wait_until(dialog.isVisible)
    assert dialog.windowTitle().startswith("Adjust a line — Ember Foods")
    dialog.reject()
    _close(qtbot, window)


def test_the_window_follows_a_switch_to_the_dark_palette(
    qtbot: QtBot,
    qapp: QApplication,
    store: Engine,
    ui_state: UiState,
    crash_reporter: CrashReporter,
) -> None:
    secrets = MemorySecrets()
    workspace = Workspace(
        store, "sqlite:///desk", "lead.lee", "http://127.0.0.1:9", secrets, banner="Demo workspace"
    )
    window = MainWindow(workspace, ui_state, crash_reporter, start_worker=False)
    qtbot.addWidget(window)
    window.show()
    light = qapp.palette()
    try:
        apply_palette(qapp, palette_for(True))
        dark_banner = ACCENTS["banner"][1]
        qtbot.wait_until(lambda: dark_banner in window.banner.styleSheet())
        qtbot.wait_until(
            lambda: window.palette().color(QPalette.ColorRole.Window).lightness() < 128
        )
    finally:
        apply_palette(qapp, light)
    qtbot.wait_until(lambda: ACCENTS["banner"][0] in window.banner.styleSheet())
    _close(qtbot, window)

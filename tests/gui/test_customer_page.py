"""The customer page against real data: every kind of difference between the ledger and the
Stripe invoice gets its own status, the totals add up, and a line drills down to its usage."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.domain.reconcile import RowStatus
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.models import side_by_side as m
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import UiState
from billing_desk.ui.sync_worker import SyncThread, SyncWorker, WorkerOptions
from billing_desk.ui.views.customer_page import CustomerPage
from tests.conftest import StripeSandbox
from tests.gui import seed


@pytest.fixture
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner(ChangeBus())
    yield runner
    assert runner.shutdown()


@pytest.fixture
def drifting(store: Engine, stripe_sandbox: StripeSandbox) -> str:
    """A customer with one row of each status (see the comments)."""
    url, key = stripe_sandbox.url, stripe_sandbox.api_key
    seed.add_customers(store, [seed.customer(1, "Acme Analytics")])
    cid = "c-0001"
    seed.add_usage(store, cid, "api.calls", [100, 250, 50], unit_amount="2")  # in sync
    seed.add_usage(store, cid, "storage.gb", [10, 10], unit_amount="25")  # waiting to push
    seed.add_usage(store, cid, "seats", [3], unit_amount="1200")  # amount differs
    summary = seed.push(store, url, key, cid)
    assert summary.pushed == 3
    seed.add_usage(store, cid, "storage.gb", [5], unit_amount="25", start=10)
    seed.add_usage(store, cid, "sms.outbound", [40], unit_amount="75")  # only local
    client = stripe_sandbox.client()
    _, seats_item = seed.line_item(store, cid, "seats")
    assert seats_item is not None
    client.v1.invoice_items.update(seats_item, {"amount": 3900})  # edited in the Dashboard
    client.v1.invoice_items.create(  # added in the Dashboard: only in Stripe
        {
            "customer": seed.stripe_id(store, cid),
            "amount": 1500,
            "currency": "usd",
            "description": "Priority support (added by hand)",
        }
    )
    seed.pull(store, url, key, cid)
    return cid


def _page(qtbot: QtBot, store: Engine, runner: OperationRunner, ui_state: UiState) -> CustomerPage:
    page = CustomerPage(store, runner, ChangeBus(), ui_state)
    qtbot.addWidget(page)
    page.resize(1300, 600)
    page.show()
    return page


def _statuses(page: CustomerPage) -> dict[str, RowStatus]:
    model = page.side_by_side.model
    out = {}
    for r in range(model.rowCount()):
        row = model.row_at(r)
        name = row.row.lines[0].item if row.row.lines else row.row.stripe.description  # type: ignore[union-attr]
        out[name] = row.row.status
    return out


def test_every_kind_of_difference_has_its_status(
    qtbot: QtBot, store: Engine, runner: OperationRunner, ui_state: UiState, drifting: str
) -> None:
    page = _page(qtbot, store, runner, ui_state)
    with qtbot.wait_signal(page.customer_loaded):
        page.open_customer(drifting)
    assert _statuses(page) == {
        "api.calls": RowStatus.IN_SYNC,
        "storage.gb": RowStatus.WAITING_TO_PUSH,
        "seats": RowStatus.AMOUNT_DIFFERS,
        "sms.outbound": RowStatus.ONLY_LOCAL,
        "Priority support (added by hand)": RowStatus.ONLY_IN_STRIPE,
    }
    model = page.side_by_side.model
    for r in range(model.rowCount()):
        status = model.index(r, m.COL_STATUS)
        assert status.data() in {
            "In sync",
            "Waiting to push",
            "Amount differs",
            "Only local",
            "Only in Stripe",
        }
        assert status.data(m.Qt.ItemDataRole.ToolTipRole)
    # api 400×2 = 800, storage 25×25 = 625 (Stripe has 500), seats 3600 (Stripe 3900),
    # sms 40×75 = 3000 (not in Stripe), support 1500 (only in Stripe).
    totals = page.side_by_side.totals.text()
    assert "80.25 USD" in totals  # local: 800 + 625 + 3600 + 3000
    assert "67.00 USD" in totals  # Stripe: 800 + 500 + 3900 + 1500
    assert "13.25" in totals  # difference, Stripe − local = −13.25
    assert page.header.name.text() == "Acme Analytics"
    assert "Stripe data fetched" in page.header.fetched.text()
    assert "Customer in Stripe Dashboard" in page.header.links.text()
    qtbot.wait_until(lambda: not runner.busy)


def test_a_line_drills_down_to_its_increments_and_usage_chart(
    qtbot: QtBot, store: Engine, runner: OperationRunner, ui_state: UiState
) -> None:
    seed.add_customers(store, [seed.customer(2, "Bolt Logistics")])
    quantities = [(k % 7) + 1 for k in range(600)]  # 600 hours: more than one page
    seed.add_usage(store, "c-0002", "api.calls", quantities, unit_amount="2")
    page = _page(qtbot, store, runner, ui_state)
    with qtbot.wait_signal(page.customer_loaded):
        page.open_customer("c-0002")
    table = page.side_by_side.table
    index = page.side_by_side.model.index(0, m.COL_ITEM)
    table.activated.emit(index)
    dialog = page.drilldown
    assert dialog is not None
    qtbot.wait_until(lambda: dialog.chart.points() != [])
    assert dialog.model.rowCount() == 600
    qtbot.wait_until(lambda: dialog.model.index(0, 2).data() != "…")
    assert dialog.model.index(0, 2).data() == "c-0002-api.calls-0"
    dialog.table.scrollToBottom()
    qtbot.wait_until(lambda: dialog.model.index(599, 2).data() == "c-0002-api.calls-599")
    points = dialog.chart.points()
    assert len(points) == 31  # every day of October
    assert sum(q for _, q in points) == sum(quantities)
    assert "over 25 of 31 days" in dialog.chart.summary()
    dialog.close()
    qtbot.wait_until(lambda: not runner.busy)


def test_stripe_unreachable_keeps_the_cached_view_and_says_so(
    qtbot: QtBot,
    store: Engine,
    runner: OperationRunner,
    ui_state: UiState,
    stripe_sandbox: StripeSandbox,
) -> None:
    url, key = stripe_sandbox.url, stripe_sandbox.api_key
    seed.add_customers(store, [seed.customer(3, "Cedar Health")])
    seed.add_usage(store, "c-0003", "api.calls", [10, 20], unit_amount="2")
    seed.push(store, url, key, "c-0003")
    seed.pull(store, url, key, "c-0003")
    stripe_sandbox.admin.configure(outage=True)
    config = GatewayConfig(key, url, retry=RetryPolicy(attempts=1))
    thread = SyncThread(SyncWorker(store, config, WorkerOptions(events_every_s=3600)))
    page = _page(qtbot, store, runner, ui_state)
    page.attach_worker(thread.worker)
    thread.start()
    try:
        with qtbot.wait_signal(page.customer_loaded):
            page.open_customer("c-0003")
        qtbot.wait_until(page.notice.isVisible, timeout=15_000)
        assert re.fullmatch(
            r"Stripe unreachable: showing cached data from \d\d:\d\d; will retry\.",
            page.notice.text(),
        )
        assert page.side_by_side.model.stale
        assert _statuses(page) == {"api.calls": RowStatus.IN_SYNC}  # the cache, still shown
    finally:
        with qtbot.wait_signal(thread.finished, timeout=10_000):
            thread.stop()


def test_the_period_selector_shows_each_period(
    qtbot: QtBot, store: Engine, runner: OperationRunner, ui_state: UiState
) -> None:
    seed.add_customers(store, [seed.customer(4, "Delta Robotics")])
    seed.add_usage(store, "c-0004", "api.calls", [10], unit_amount="2", period="2026-09")
    seed.add_usage(store, "c-0004", "seats", [3], unit_amount="1200", period="2026-10")
    page = _page(qtbot, store, runner, ui_state)
    with qtbot.wait_signal(page.customer_loaded):
        page.open_customer("c-0004")
    combo = page.header.period
    assert [combo.itemText(i) for i in range(combo.count())] == ["2026-10", "2026-09"]
    assert list(_statuses(page)) == ["seats"]
    with qtbot.wait_signal(page.customer_loaded):
        combo.setCurrentIndex(1)
        combo.activated.emit(1)
    assert page.period == "2026-09"
    assert list(_statuses(page)) == ["api.calls"]
    assert combo.currentText() == "2026-09"
    qtbot.wait_until(lambda: not runner.busy)

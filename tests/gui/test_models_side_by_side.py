"""The side-by-side model, without any widget: text, status presentation, sort and object roles."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.modeltest import ModelTester

from billing_desk.domain.reconcile import LocalLine, RowStatus, StripeLine, reconcile
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.models import side_by_side as m


def _line(
    id: int,
    item: str,
    amount: int,
    *,
    version: int = 1,
    synced: int | None = 1,
    item_id: str | None = None,
) -> LocalLine:
    return LocalLine(
        id=id,
        item=item,
        description=item.title(),
        quantity=Decimal(amount) / Decimal("0.5"),
        unit_amount=Decimal("0.5"),
        amount=amount,
        version=version,
        synced_version=synced,
        voided=False,
        stripe_invoice_item=item_id,
    )


def _stripe(id: str, amount: int, line: int | None, version: int | None = 1) -> StripeLine:
    metadata = (
        {}
        if line is None
        else {"billing_desk_line": str(line), "billing_desk_version": str(version)}
    )
    return StripeLine.from_metadata(id, amount, f"item {id}", metadata)


def _rows() -> list[m.LineRow]:
    local = [
        _line(1, "api.calls", 1200, item_id="ii_1"),  # in sync
        _line(2, "storage", 500, version=3, synced=2, item_id="ii_2"),  # waiting to push
        _line(3, "seats", 4000, item_id="ii_3"),  # amount differs
        _line(4, "sms", 75, synced=None),  # only local
    ]
    stripe = [
        _stripe("ii_1", 1200, 1),
        _stripe("ii_2", 400, 2, 2),
        _stripe("ii_3", 4500, 3),
        _stripe("ii_9", 999, None),  # only in Stripe
    ]
    result = reconcile(local, stripe)
    return [m.LineRow(row, "usd", sync_state="synced") for row in result.rows]


def test_each_status_has_its_word_icon_colour_and_tooltip(qtmodeltester: ModelTester) -> None:
    model = m.SideBySideModel()
    model.set_rows(_rows())
    qtmodeltester.check(model)
    statuses = {
        model.index(r, m.COL_STATUS).data(): model.index(r, 0).data(OBJECT_ROLE).row.status
        for r in range(model.rowCount())
    }
    assert statuses == {
        "In sync": RowStatus.IN_SYNC,
        "Waiting to push": RowStatus.WAITING_TO_PUSH,
        "Amount differs": RowStatus.AMOUNT_DIFFERS,
        "Only local": RowStatus.ONLY_LOCAL,
        "Only in Stripe": RowStatus.ONLY_IN_STRIPE,
    }
    for r in range(model.rowCount()):
        status = model.index(r, m.COL_STATUS)
        assert not status.data(Qt.ItemDataRole.DecorationRole).isNull()
        assert status.data(Qt.ItemDataRole.ForegroundRole) is not None
        assert len(status.data(Qt.ItemDataRole.ToolTipRole)) > 20


def test_cells_show_money_in_the_currency_and_the_difference_signed() -> None:
    model = m.SideBySideModel()
    model.set_rows(_rows())
    by_item = {model.index(r, m.COL_ITEM).data(): r for r in range(model.rowCount())}
    seats = by_item["seats"]
    assert model.index(seats, m.COL_AMOUNT).data() == "40.00"
    assert model.index(seats, m.COL_STRIPE_AMOUNT).data() == "45.00"
    assert model.index(seats, m.COL_DIFFERENCE).data() == "+5.00"
    assert model.index(seats, m.COL_UNIT_PRICE).data() == "0.005"
    assert model.index(seats, m.COL_QUANTITY).data() == "8,000"
    stripe_only = by_item[""]
    assert model.index(stripe_only, m.COL_AMOUNT).data() == "—"
    assert model.index(stripe_only, m.COL_DIFFERENCE).data() == "+9.99"
    sms = by_item["sms"]
    assert model.index(sms, m.COL_STRIPE_AMOUNT).data() == "—"
    assert model.index(sms, m.COL_DIFFERENCE).data() == "\u22120.75"


def _amounts(model: m.SideBySideModel) -> list[object]:
    return [model.index(r, m.COL_AMOUNT).data(SORT_ROLE) for r in range(model.rowCount())]


def test_sorting_uses_native_values_with_empty_cells_last() -> None:
    model = m.SideBySideModel()
    model.set_rows(_rows())
    aligned = _amounts(model)
    model.sort(m.COL_AMOUNT, Qt.SortOrder.AscendingOrder)
    assert _amounts(model) == [75, 500, 1200, 4000, None]
    model.sort(m.COL_AMOUNT, Qt.SortOrder.DescendingOrder)
    assert _amounts(model) == [4000, 1200, 500, 75, None]
    model.set_rows(_rows())  # new rows keep the order chosen
    assert _amounts(model) == [4000, 1200, 500, 75, None]
    model.sort(-1)  # the aligned order again
    assert _amounts(model) == aligned


def test_a_selected_row_stays_selected_when_sorted(qtmodeltester: ModelTester) -> None:
    model = m.SideBySideModel()
    model.set_rows(_rows())
    qtmodeltester.check(model)  # and it watches the layout change that sorting makes
    selection = QItemSelectionModel(model)
    target = next(
        r for r in range(model.rowCount()) if model.index(r, m.COL_AMOUNT).data(SORT_ROLE) == 500
    )
    chosen = model.index(target, 0).data(OBJECT_ROLE)
    selection.select(model.index(target, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    model.sort(m.COL_AMOUNT, Qt.SortOrder.DescendingOrder)
    (index,) = selection.selectedIndexes()
    assert index.row() == 2
    assert index.data(OBJECT_ROLE) is chosen


def test_set_rows_resets() -> None:
    model = m.SideBySideModel()
    model.set_rows(_rows())
    model.set_rows([])
    assert model.rowCount() == 0

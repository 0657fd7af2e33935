"""The virtual increments model, without any widget: pages asked for once, on demand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pytestqt.modeltest import ModelTester

from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.models import increments as m


def _row(i: int) -> m.IncrementRow:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return m.IncrementRow(f"evt_{i:06d}", start + timedelta(minutes=i), Decimal(i) / 4, 1)


class _Source:
    """Pages delivered only when the test says so, like the store read off the UI thread."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: list[tuple[int, int]] = []
        self._waiting: list[tuple[int, int, m.Deliver]] = []

    def request(self, offset: int, limit: int, deliver: m.Deliver) -> None:
        self.asked.append((offset, limit))
        self._waiting.append((offset, limit, deliver))

    def deliver_all(self) -> None:
        waiting, self._waiting = self._waiting, []
        for offset, limit, deliver in waiting:
            rows: Sequence[m.IncrementRow] = [
                _row(i) for i in range(offset, min(offset + limit, self.count))
            ]
            deliver(rows)


def test_rows_load_by_page_when_first_shown() -> None:
    source = _Source(100_000)
    model = m.IncrementsModel()
    model.set_source(source.count, source.request)
    assert model.rowCount() == 100_000
    assert model.index(70_123, m.COL_EVENT).data() == m.LOADING
    assert model.index(70_200, m.COL_QUANTITY).data() == m.LOADING  # same page: asked once
    assert source.asked == [(70_000, m.PAGE_SIZE)]
    source.deliver_all()
    assert model.index(70_123, m.COL_EVENT).data() == "evt_070123"
    assert model.index(70_123, m.COL_QUANTITY).data() == "17,530.75"
    assert model.index(70_123, 0).data(OBJECT_ROLE) == _row(70_123)


def test_the_model_keeps_qt_s_rules_while_pages_arrive(qtmodeltester: ModelTester) -> None:
    source = _Source(3 * m.PAGE_SIZE - 7)
    model = m.IncrementsModel()
    model.set_source(source.count, source.request)
    qtmodeltester.check(model, force_py=True)
    source.deliver_all()
    qtmodeltester.check(model, force_py=True)


def test_memory_stays_bounded_while_scrolling_everything() -> None:
    source = _Source(100_000)
    model = m.IncrementsModel()
    model.set_source(source.count, source.request)
    for row in range(0, 100_000, m.PAGE_SIZE):
        model.index(row, 0).data()
        source.deliver_all()
    assert len(source.asked) == 100_000 // m.PAGE_SIZE
    assert len(model._pages) == m.CACHED_PAGES


def test_a_page_for_a_previous_line_is_dropped() -> None:
    source = _Source(1_000)
    model = m.IncrementsModel()
    model.set_source(source.count, source.request)
    model.index(0, 0).data()
    model.set_source(0, None)
    source.deliver_all()
    assert model.rowCount() == 0


def test_a_failed_page_is_asked_again_later() -> None:
    source = _Source(1_000)
    model = m.IncrementsModel()
    model.set_source(source.count, source.request)
    model.index(0, 0).data()
    (_, _, deliver) = source._waiting.pop()
    deliver(None)
    model.index(0, 0).data()
    assert len(source.asked) == 2

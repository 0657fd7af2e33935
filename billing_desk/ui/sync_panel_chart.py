"""Stripe API calls per hour against the budget, as a bar chart drawn with QPainter.

PySide6-Essentials ships without QtCharts, and a dozen bars need no chart library. Each bar
stacks the calls that succeeded and those that failed (errors, 429s, in the danger colour);
the budget is a dashed line when it fits the scale, else a caption says how much of it the
busiest hour used. The chart's accessible description carries the same figures as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from billing_desk.ui.theme import accent


@dataclass(frozen=True, slots=True)
class HourCalls:
    """Calls sent to Stripe in one hour (`hour` is its start), over every endpoint and worker."""

    hour: datetime
    calls: int
    failed: int = 0


class CallsChart(QWidget):
    """`set_data(hours, budget_per_hour)`; hover a bar for its figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hours: list[HourCalls] = []
        self._budget = 0
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Stripe API calls per hour")
        self._update_description()

    def set_data(self, hours: Sequence[HourCalls], budget_per_hour: int) -> None:
        self._hours = sorted(hours, key=lambda h: h.hour)
        self._budget = budget_per_hour
        self._update_description()
        self.update()

    def summary(self) -> str:
        """The chart in words: busiest hour and its share of the budget."""
        if not self._hours:
            return "No calls to Stripe recorded yet."
        total = sum(h.calls for h in self._hours)
        peak = max(self._hours, key=lambda h: h.calls)
        text = (
            f"{total:,} calls in {len(self._hours)} h; busiest hour {peak.calls:,} "
            f"({peak.hour.astimezone():%H:00})"
        )
        if self._budget > 0:
            text += f", {_share(peak.calls, self._budget)} of the {self._budget:,}/h budget"
        return text + "."

    def _update_description(self) -> None:
        self.setAccessibleDescription(self.summary())
        self.setToolTip("" if self._hours else self.summary())

    def sizeHint(self) -> QSize:
        return QSize(420, 160)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 110)

    # --- geometry -------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        fm = QFontMetrics(self.font())
        left = fm.horizontalAdvance("00,000") + 8
        bottom = fm.height() + 6
        top = fm.height() + 6
        return QRectF(
            left, top, max(1, self.width() - left - 8), max(1, self.height() - top - bottom)
        )

    def _scale_max(self) -> int:
        peak = max((h.calls for h in self._hours), default=0)
        top = max(peak, 1)
        # Show the budget line when it is within reach of the bars; never squash them flat.
        if 0 < self._budget <= peak * 3:
            top = max(top, self._budget)
        return _nice_ceiling(int(top * 1.1) + 1)

    def _bar_rect(self, index: int, plot: QRectF, top: int) -> QRectF:
        slot = plot.width() / max(len(self._hours), 1)
        gap = min(6.0, slot * 0.25)
        height = plot.height() * self._hours[index].calls / top
        return QRectF(
            plot.left() + index * slot + gap / 2, plot.bottom() - height, slot - gap, height
        )

    # --- painting ---------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        del event
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = accent("muted")
        plot = self._plot_rect()
        fm = QFontMetrics(self.font())
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        if not self._hours:
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.summary())
            return
        top = self._scale_max()
        # Axis: zero, half and top labels with faint grid lines.
        grid = QColor(muted)
        grid.setAlpha(60)
        for value in (0, top // 2, top):
            y = plot.bottom() - plot.height() * value / top
            painter.setPen(grid)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(muted)
            label = QRectF(0, y - fm.height() / 2, plot.left() - 6, fm.height())
            painter.drawText(
                label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:,}"
            )
        ok, bad = accent("pending"), accent("danger")
        step = max(1, len(self._hours) // 6)
        for i, hour in enumerate(self._hours):
            bar = self._bar_rect(i, plot, top)
            failed_h = bar.height() * (hour.failed / hour.calls) if hour.calls else 0.0
            painter.fillRect(
                QRectF(bar.left(), bar.top() + failed_h, bar.width(), bar.height() - failed_h), ok
            )
            if failed_h:
                painter.fillRect(QRectF(bar.left(), bar.top(), bar.width(), failed_h), bad)
            if i % step == 0:
                painter.setPen(muted)
                label = QRectF(bar.center().x() - 30, plot.bottom() + 3, 60, fm.height())
                painter.drawText(
                    label, Qt.AlignmentFlag.AlignHCenter, f"{hour.hour.astimezone():%H:00}"
                )
        caption_rect = QRectF(plot.left(), 0, plot.width(), fm.height() + 2)
        self._paint_legend(painter, caption_rect, ok, bad, text)
        painter.setPen(text)
        if 0 < self._budget <= top:
            y = plot.bottom() - plot.height() * self._budget / top
            pen = QPen(accent("differs"), 1.5, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(
                caption_rect, Qt.AlignmentFlag.AlignRight, f"budget {self._budget:,}/h"
            )
        elif self._budget > 0:
            peak = max(h.calls for h in self._hours)
            painter.drawText(
                caption_rect,
                Qt.AlignmentFlag.AlignRight,
                f"busiest hour used {_share(peak, self._budget)} of the {self._budget:,}/h budget",
            )

    def _paint_legend(
        self, painter: QPainter, rect: QRectF, ok: QColor, bad: QColor, text: QColor
    ) -> None:
        fm = QFontMetrics(self.font())
        x = rect.left()
        box = fm.ascent() * 0.8
        for colour, label in ((ok, "calls"), (bad, "failed")):
            painter.fillRect(QRectF(x, rect.top() + (rect.height() - box) / 2, box, box), colour)
            x += box + 4
            painter.setPen(text)
            painter.drawText(QRectF(x, rect.top(), 200, rect.height()), label)
            x += fm.horizontalAdvance(label) + 12

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._hours:
            return
        plot, top = self._plot_rect(), self._scale_max()
        x = event.position().x()
        slot = plot.width() / len(self._hours)
        index = int((x - plot.left()) // slot)
        if 0 <= index < len(self._hours):
            hour = self._hours[index]
            QToolTip.showText(
                event.globalPosition().toPoint(),
                f"{hour.hour.astimezone():%d %b %H:00}: {hour.calls:,} calls"
                + (f", {hour.failed:,} failed" if hour.failed else ""),
                self,
                self._bar_rect(index, plot, top).toRect(),
            )


def _share(calls: int, budget: int) -> str:
    percent = 100 * calls / budget
    return f"{percent:.0f}%" if percent >= 1 or calls == 0 else "<1%"


def _nice_ceiling(value: int) -> int:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ) at or above `value`,
    so the axis fits the bars closely and its labels still read well."""
    if value <= 10:
        return 10
    magnitude = 1
    while True:
        for tenths in (10, 12, 15, 20, 25, 30, 40, 50, 60, 80):
            candidate = tenths * magnitude
            if candidate >= value:
                return candidate
        magnitude *= 10

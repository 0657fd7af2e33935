"""A line's usage per day over the period, as a bar chart drawn with QPainter (QtCharts is not
part of PySide6-Essentials). Hovering a bar shows its day and exact quantity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QToolTip, QWidget

from billing_desk.ui import format as fmt
from billing_desk.ui.theme import accent

Point = tuple[date, Decimal]


class UsageChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Usage per day")
        self.setMouseTracking(True)
        self._points: list[Point] = []
        self._unit = ""

    def set_points(self, points: Sequence[Point], unit: str = "") -> None:
        self._points = list(points)
        self._unit = unit
        self.setAccessibleDescription(self.summary())
        self.update()

    def points(self) -> list[Point]:
        return list(self._points)

    def summary(self) -> str:
        """The chart in words, for screen readers and tests."""
        if not self._points:
            return "No usage in this period."
        total = sum((q for _, q in self._points), Decimal(0))
        peak_day, peak = max(self._points, key=lambda p: p[1])
        used = sum(1 for _, q in self._points if q)
        return (
            f"{fmt.quantity(total)} {self._unit} over {used} of {len(self._points)} days; "
            f"peak {fmt.quantity(peak)} on {peak_day:%d %b}."
        ).replace("  ", " ")

    def sizeHint(self) -> QSize:
        return QSize(640, 180)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 120)

    def _plot(self) -> QRectF:
        return QRectF(self.rect()).adjusted(56, 12, -12, -26)

    def _bar(self, i: int, plot: QRectF, peak: Decimal) -> QRectF:
        width = plot.width() / max(1, len(self._points))
        value = self._points[i][1]
        height = 0.0 if not peak else float(value / peak) * plot.height()  # pixels only
        return QRectF(plot.left() + i * width + 1, plot.bottom() - height, width - 2, height)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        plot = self._plot()
        text = palette.color(QPalette.ColorRole.Text)
        grid = palette.color(QPalette.ColorRole.Mid)
        if not self._points:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No usage in this period")
            return
        peak = max(q for _, q in self._points)
        painter.setPen(grid)
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.topLeft() + QPointF(0, 0), plot.bottomLeft())
        painter.setPen(text)
        label_rect = QRectF(0, plot.top() - 7, plot.left() - 6, 14)
        painter.drawText(
            label_rect,
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            fmt.quantity(peak),
        )
        painter.drawText(
            QRectF(0, plot.bottom() - 7, plot.left() - 6, 14),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            "0",
        )
        bar_colour = accent("pending")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bar_colour)
        for i in range(len(self._points)):
            rect = self._bar(i, plot, peak)
            if rect.height() > 0:
                painter.drawRect(rect)
        painter.setPen(text)
        step = max(1, len(self._points) // 6)
        width = plot.width() / len(self._points)
        for i in range(0, len(self._points), step):
            x = plot.left() + i * width
            painter.drawText(
                QRectF(x - 20, plot.bottom() + 4, 60, 18),
                Qt.AlignmentFlag.AlignLeft,
                f"{self._points[i][0]:%d %b}",
            )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        plot = self._plot()
        if self._points and plot.contains(event.position()):
            i = int((event.position().x() - plot.left()) / plot.width() * len(self._points))
            i = min(max(i, 0), len(self._points) - 1)
            day, value = self._points[i]
            QToolTip.showText(
                event.globalPosition().toPoint(),
                f"{day:%a %d %b %Y}: {fmt.quantity(value)} {self._unit}".rstrip(),
                self,
            )
        super().mouseMoveEvent(event)

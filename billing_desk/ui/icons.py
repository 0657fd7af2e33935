"""Small icons drawn in code: a coloured disc with a white glyph, so status is never colour alone.

Glyphs are vector paths (no font needed), drawn at twice the size for sharp high-DPI display.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

GLYPHS = ("check", "arrow_up", "not_equal", "plus", "minus", "pause", "cross", "bolt", "dot")


def _glyph(name: str, s: float) -> QPainterPath:
    """The glyph's stroke path inside a square of side `s`."""
    path = QPainterPath()
    m = s * 0.3  # inner margin
    lo, hi, mid = m, s - m, s / 2
    if name == "check":
        path.moveTo(lo, mid)
        path.lineTo(mid - s * 0.05, hi - s * 0.02)
        path.lineTo(hi, lo + s * 0.02)
    elif name == "arrow_up":
        path.moveTo(mid, hi)
        path.lineTo(mid, lo)
        path.moveTo(lo + s * 0.02, mid - s * 0.04)
        path.lineTo(mid, lo)
        path.lineTo(hi - s * 0.02, mid - s * 0.04)
    elif name == "not_equal":
        path.moveTo(lo, mid - s * 0.09)
        path.lineTo(hi, mid - s * 0.09)
        path.moveTo(lo, mid + s * 0.09)
        path.lineTo(hi, mid + s * 0.09)
        path.moveTo(hi - s * 0.06, lo)
        path.lineTo(lo + s * 0.06, hi)
    elif name == "plus":
        path.moveTo(lo, mid)
        path.lineTo(hi, mid)
        path.moveTo(mid, lo)
        path.lineTo(mid, hi)
    elif name == "minus":
        path.moveTo(lo, mid)
        path.lineTo(hi, mid)
    elif name == "pause":
        path.moveTo(mid - s * 0.09, lo)
        path.lineTo(mid - s * 0.09, hi)
        path.moveTo(mid + s * 0.09, lo)
        path.lineTo(mid + s * 0.09, hi)
    elif name == "cross":
        path.moveTo(lo, lo)
        path.lineTo(hi, hi)
        path.moveTo(hi, lo)
        path.lineTo(lo, hi)
    elif name == "bolt":
        path.moveTo(mid + s * 0.06, lo - s * 0.04)
        path.lineTo(lo + s * 0.04, mid + s * 0.03)
        path.lineTo(hi - s * 0.04, mid - s * 0.03)
        path.lineTo(mid - s * 0.06, hi + s * 0.04)
    elif name == "dot":
        path.addEllipse(QPointF(mid, mid), s * 0.08, s * 0.08)
    else:
        raise ValueError(f"unknown glyph {name!r}")
    return path


def glyph_pixmap(name: str, colour: QColor, size: int = 16) -> QPixmap:
    return _pixmap(name, colour.name(), size)


@cache
def _pixmap(name: str, colour: str, size: int) -> QPixmap:
    scale = 2
    side = size * scale
    pixmap = QPixmap(side, side)
    pixmap.setDevicePixelRatio(scale)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(QRectF(0.5, 0.5, size - 1, size - 1))
        pen = QPen(QColor("#ffffff"), max(1.6, size * 0.12))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(_glyph(name, float(size)))
    finally:
        painter.end()
    return pixmap


def glyph_icon(name: str, colour: QColor, size: int = 16) -> QIcon:
    return QIcon(glyph_pixmap(name, colour, size))

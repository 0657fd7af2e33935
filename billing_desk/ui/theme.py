"""Light and dark palettes that follow the system's colour scheme, and the app's accent colours.

Fusion style with explicit palettes, so the window looks the same on every platform and still
switches when the system switches between light and dark.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7",
    QPalette.ColorRole.WindowText: "#1d2330",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f0f2f5",
    QPalette.ColorRole.Text: "#1d2330",
    QPalette.ColorRole.Button: "#eceef2",
    QPalette.ColorRole.ButtonText: "#1d2330",
    QPalette.ColorRole.Highlight: "#3b6fd8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#ffffe8",
    QPalette.ColorRole.ToolTipText: "#1d2330",
    QPalette.ColorRole.PlaceholderText: "#7a8190",
    QPalette.ColorRole.Link: "#2357c4",
    QPalette.ColorRole.Mid: "#c5cad3",
}
_DARK = {
    QPalette.ColorRole.Window: "#1f2228",
    QPalette.ColorRole.WindowText: "#e3e6eb",
    QPalette.ColorRole.Base: "#16181c",
    QPalette.ColorRole.AlternateBase: "#22252b",
    QPalette.ColorRole.Text: "#e3e6eb",
    QPalette.ColorRole.Button: "#2b2f37",
    QPalette.ColorRole.ButtonText: "#e3e6eb",
    QPalette.ColorRole.Highlight: "#4c7ee6",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#2b2f37",
    QPalette.ColorRole.ToolTipText: "#e3e6eb",
    QPalette.ColorRole.PlaceholderText: "#8a909c",
    QPalette.ColorRole.Link: "#7fa6ff",
    QPalette.ColorRole.Mid: "#454a55",
}

# Accent colours per meaning, (light, dark): chosen to keep contrast on either background.
ACCENTS: dict[str, tuple[str, str]] = {
    "ok": ("#1e8e4e", "#4cc47f"),
    "pending": ("#2563c9", "#6b9cf0"),
    "differs": ("#c2410c", "#fb8c4c"),
    "stripe_only": ("#7c3aed", "#b18cf7"),
    "local_only": ("#a16207", "#e0b341"),
    "danger": ("#b91c1c", "#f87171"),
    "muted": ("#6b7280", "#9ca3af"),
    "banner": ("#fff4ce", "#4a3f12"),
    "banner_text": ("#5c4400", "#ffe9a3"),
}


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128


def accent(name: str) -> QColor:
    light, dark = ACCENTS[name]
    return QColor(dark if is_dark() else light)


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def palette_for(dark: bool) -> QPalette:
    palette = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor(_DARK[QPalette.ColorRole.PlaceholderText] if dark else "#9aa0aa")
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


class _ThemeSignals(QObject):
    flipped = Signal(bool)  # dark


_signals: _ThemeSignals | None = None


def _theme_signals() -> _ThemeSignals:
    global _signals
    if _signals is None:
        _signals = _ThemeSignals()
    return _signals


def apply_palette(app: QApplication, palette: QPalette) -> None:
    """Set the application's palette and tell the widgets that follow it if light/dark flipped."""
    was_dark = is_dark()
    app.setPalette(palette)
    if is_dark() != was_dark:
        _theme_signals().flipped.emit(is_dark())


class _PaletteWatcher(QObject):
    """Restyles one widget when the theme flips; a child of it, so it goes when the widget goes
    (and with it the connection)."""

    def __init__(self, widget: QWidget, restyle: Callable[[], None]) -> None:
        super().__init__(widget)
        self._restyle = restyle
        _theme_signals().flipped.connect(self._on_theme_flipped)

    def _on_theme_flipped(self, _dark: bool) -> None:
        self._restyle()


def follow_palette(widget: QWidget, restyle: Callable[[], None]) -> None:
    """Run `restyle` now and whenever the theme flips between light and dark, for widgets whose
    style sheet names accent colours."""
    restyle()
    _PaletteWatcher(widget, restyle)


class ThemeFollower(QObject):
    """Applies the palette matching the system scheme now and whenever the system switches."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        app.setStyle("Fusion")
        self.apply()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_hints_color_scheme_changed)

    def apply(self) -> None:
        apply_palette(self._app, palette_for(system_prefers_dark()))

    def _on_hints_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        self.apply()

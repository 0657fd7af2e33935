"""What the window remembers between runs on this desk (QSettings): geometry, column widths,
splitter positions, and the store chosen at first run (a URL without its password).

Team-wide settings live in the store; these are one person's preferences on one machine.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QHeaderView, QSplitter, QWidget

ORGANIZATION = "billing-desk"
APPLICATION = "Billing Desk"
STORE_URL_KEY = "store/url"


class UiState:
    """A thin, typed face over one QSettings file."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings or QSettings(ORGANIZATION, APPLICATION)

    @property
    def settings(self) -> QSettings:
        return self._settings

    def store_url(self) -> str | None:
        value = self._settings.value(STORE_URL_KEY)
        return str(value) if value else None

    def set_store_url(self, url: str) -> None:
        self._settings.setValue(STORE_URL_KEY, url)

    def save_geometry(self, name: str, widget: QWidget) -> None:
        self._settings.setValue(f"geometry/{name}", widget.saveGeometry())

    def restore_geometry(self, name: str, widget: QWidget) -> bool:
        value = self._settings.value(f"geometry/{name}")
        return isinstance(value, QByteArray) and widget.restoreGeometry(value)

    def save_header(self, name: str, header: QHeaderView) -> None:
        self._settings.setValue(f"columns/{name}", header.saveState())

    def restore_header(self, name: str, header: QHeaderView) -> bool:
        value = self._settings.value(f"columns/{name}")
        return isinstance(value, QByteArray) and header.restoreState(value)

    def save_splitter(self, name: str, splitter: QSplitter) -> None:
        self._settings.setValue(f"splitters/{name}", splitter.saveState())

    def restore_splitter(self, name: str, splitter: QSplitter) -> bool:
        value = self._settings.value(f"splitters/{name}")
        return isinstance(value, QByteArray) and splitter.restoreState(value)

    def sync(self) -> None:
        self._settings.sync()

"""The first-run screen: open the demo workspace, or connect to Stripe and choose the store."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.config import (
    STRIPE_KEY_ENTRY,
    MemorySecrets,
    Secrets,
    db_password_entry,
    default_db_url,
)
from billing_desk.domain.errors import InvalidInput
from billing_desk.ui import first_run
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.theme import accent


@dataclass(frozen=True)
class Connection:
    """What first run produced: an open store and where the Stripe key can be read from."""

    engine: Engine
    store_url: str
    secrets: Secrets
    key_saved: bool


def _title(text: str, size: int) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setPointSize(size)
    font.setBold(True)
    label.setFont(font)
    return label


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * 0.92)
    label.setFont(font)
    return label


class WelcomeView(QWidget):
    demo_requested = Signal()
    connected = Signal(object)  # Connection

    def __init__(
        self,
        runner: OperationRunner,
        secrets: Secrets,
        stripe_base: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Welcome")
        self._runner = runner
        self._secrets = secrets
        self._stripe_base = stripe_base
        self._engine: Engine | None = None
        self._choice: first_run.StoreChoice | None = None
        self._pages = QStackedWidget()
        self._pages.addWidget(self._intro_page())
        self._pages.addWidget(self._connect_page())
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setBackgroundRole(QPalette.ColorRole.Base)
        card.setAutoFillBackground(True)
        card.setMaximumWidth(640)
        card.setMinimumHeight(440)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(32, 28, 32, 28)
        inner.addWidget(self._pages)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    # Pages

    def _intro_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(_title("Welcome to Billing Desk", 18))
        layout.addWidget(
            _hint(
                "Billing Desk keeps your platform's usage in a local ledger, shows each "
                "customer's lines beside their Stripe invoice, and lets support correct them "
                "before the invoice goes out."
            )
        )
        layout.addSpacing(16)
        self.demo_button = QPushButton("Open the demo workspace")
        self.demo_button.setAccessibleName("Open the demo workspace")
        self.demo_button.setToolTip("A local Stripe stand-in with sample customers; no key needed")
        self.demo_button.setMinimumHeight(44)
        self.demo_button.clicked.connect(self.demo_requested)
        self.connect_button = QPushButton("Connect to Stripe…")
        self.connect_button.setAccessibleName("Connect to Stripe")
        self.connect_button.setMinimumHeight(44)
        self.connect_button.setDefault(True)
        self.connect_button.clicked.connect(self._on_connect_button_clicked)
        layout.addWidget(self.demo_button)
        layout.addWidget(_hint("Try everything on sample data. Nothing reaches Stripe."))
        layout.addSpacing(8)
        layout.addWidget(self.connect_button)
        layout.addWidget(_hint("Use your Stripe secret key and choose where the ledger is kept."))
        layout.addStretch(1)
        return page

    def _connect_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(_title("Connect to Stripe", 16))
        form = QFormLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("sk_live_… or sk_test_…")
        self.key_edit.setAccessibleName("Stripe secret key")
        self.key_label = QLabel()
        self.key_label.setAccessibleName("Saved Stripe key")
        self.key_label.hide()
        key_box = QVBoxLayout()
        key_box.addWidget(self.key_edit)
        key_box.addWidget(self.key_label)
        key_box.addWidget(
            _hint("Checked with Stripe, then kept in your OS keyring — never in a file.")
        )
        form.addRow("Stripe secret key:", key_box)

        self.sqlite_radio = QRadioButton("This computer (SQLite file)")
        self.sqlite_radio.setChecked(True)
        self.postgres_radio = QRadioButton("A team server (PostgreSQL)")
        group = QButtonGroup(page)
        group.addButton(self.sqlite_radio)
        group.addButton(self.postgres_radio)
        self.sqlite_path = QLineEdit(default_db_url().removeprefix("sqlite:///"))
        self.sqlite_path.setAccessibleName("SQLite store file")
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the SQLite store file")
        browse.clicked.connect(self._on_browse_clicked)
        sqlite_row = QHBoxLayout()
        sqlite_row.addWidget(self.sqlite_path, 1)
        sqlite_row.addWidget(browse)
        self.pg_url = QLineEdit()
        self.pg_url.setPlaceholderText("postgresql+psycopg://agent@db.example:5432/billing")
        self.pg_url.setAccessibleName("PostgreSQL URL")
        self.pg_password = QLineEdit()
        self.pg_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.pg_password.setPlaceholderText("password (kept in the OS keyring)")
        self.pg_password.setAccessibleName("PostgreSQL password")
        store_box = QVBoxLayout()
        store_box.addWidget(self.sqlite_radio)
        store_box.addLayout(sqlite_row)
        store_box.addWidget(self.postgres_radio)
        store_box.addWidget(self.pg_url)
        store_box.addWidget(self.pg_password)
        form.addRow("Store:", store_box)
        layout.addLayout(form)
        self.sqlite_radio.toggled.connect(self._on_store_radio_toggled)
        self._on_store_radio_toggled(True)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Connection status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        back = QPushButton("Back")
        back.clicked.connect(self._on_back_clicked)
        self.session_only_button = QPushButton("Use for this session only")
        self.session_only_button.setToolTip(
            "Keep the key in memory until Billing Desk closes; nothing is saved"
        )
        self.session_only_button.hide()
        self.session_only_button.clicked.connect(self._on_session_only_clicked)
        self.submit_button = QPushButton("Check and connect")
        self.submit_button.setAccessibleName("Check and connect")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self._on_submit_clicked)
        buttons.addWidget(back)
        buttons.addStretch(1)
        buttons.addWidget(self.session_only_button)
        buttons.addWidget(self.submit_button)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    def show_message(self, text: str) -> None:
        """A problem found before the screen opened (e.g. the saved store cannot be opened)."""
        self._pages.setCurrentIndex(1)
        self._say(text[:1].upper() + text[1:], error=True)

    # Slots

    def _on_connect_button_clicked(self) -> None:
        self._pages.setCurrentIndex(1)
        self.key_edit.setFocus()

    def _on_back_clicked(self) -> None:
        self._release_engine()
        self._pages.setCurrentIndex(0)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Choose the store file",
            self.sqlite_path.text(),
            "SQLite store (*.sqlite3)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.sqlite_path.setText(path)

    def _on_store_radio_toggled(self, _checked: bool) -> None:
        sqlite = self.sqlite_radio.isChecked()
        self.sqlite_path.setEnabled(sqlite)
        self.pg_url.setEnabled(not sqlite)
        self.pg_password.setEnabled(not sqlite)

    def _store_choice(self) -> first_run.StoreChoice:
        if self.sqlite_radio.isChecked():
            return first_run.sqlite_store(self.sqlite_path.text())
        return first_run.postgres_store(self.pg_url.text(), self.pg_password.text())

    def _on_submit_clicked(self) -> None:
        try:
            key = first_run.checked_key(self.key_edit.text())
            choice = self._store_choice()
        except InvalidInput as exc:
            self._say(f"{str(exc)[0].upper()}{str(exc)[1:]}.", error=True)
            return
        self._release_engine()
        self._choice = choice
        self._set_busy(True, "Checking the key with Stripe and opening the store…")
        base = self._stripe_base

        def work() -> Engine:
            first_run.verify_stripe_key(key, base)
            return first_run.open_chosen_store(choice)

        self._runner.run(work, on_success=self._on_verified, on_failure=self._on_step_failed)

    def _on_verified(self, engine: Engine) -> None:
        self._engine = engine
        self._set_busy(True, "Saving the key in the OS keyring…")
        key, choice, secrets = self.key_edit.text().strip(), self._choice, self._secrets
        assert choice is not None
        self._runner.run(
            lambda: first_run.save_secrets(secrets, key, choice),
            on_success=lambda _none: self._finish(secrets, saved=True),
            on_failure=self._on_keyring_failed,
        )

    def _on_step_failed(self, message: str) -> None:
        self._set_busy(False)
        self._say(message, error=True)

    def _on_keyring_failed(self, message: str) -> None:
        self._set_busy(False)
        self._say(message, error=True)
        self.session_only_button.show()

    def _on_session_only_clicked(self) -> None:
        choice = self._choice
        assert choice is not None
        assert self._engine is not None
        session = MemorySecrets({STRIPE_KEY_ENTRY: self.key_edit.text().strip()})
        if choice.password:
            session.set(db_password_entry(choice.url), choice.password)
        self._finish(session, saved=False)

    def _finish(self, secrets: Secrets, *, saved: bool) -> None:
        engine, choice = self._engine, self._choice
        assert engine is not None
        assert choice is not None
        self._engine = None  # handed over to the main window
        masked = first_run.mask_key(self.key_edit.text().strip())
        self.key_edit.clear()
        self.key_edit.hide()
        where = "saved in the OS keyring" if saved else "kept for this session only"
        self.key_label.setText(f"{masked} ({where})")
        self.key_label.show()
        self.session_only_button.hide()
        self._set_busy(False)
        self._say("Connected.", error=False)
        self.connected.emit(Connection(engine, choice.url, secrets, saved))

    # Helpers

    def _set_busy(self, busy: bool, message: str = "") -> None:
        self.submit_button.setEnabled(not busy)
        self.key_edit.setEnabled(not busy)
        if busy:
            self.session_only_button.hide()
            self._say(message, error=False)

    def _say(self, text: str, *, error: bool) -> None:
        colour = accent("danger" if error else "ok").name()
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)

    def _release_engine(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self._release_engine()
        super().closeEvent(event)

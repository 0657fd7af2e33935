"""The Stripe key and the store, as at first run: the key is checked against Stripe and kept in
the OS keyring (never a file), shown masked; a new store is opened (created or upgraded) before
it is chosen, and a PostgreSQL password goes to the keyring too. Both run off the UI thread.

Keyboard: Alt+T test and save the key · Alt+U test and use the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from billing_desk.config import (
    ENV_STRIPE_KEY,
    STRIPE_KEY_ENTRY,
    KeyringUnavailable,
    Secrets,
    db_password_entry,
)
from billing_desk.domain.errors import BillingDeskError
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.first_run import (
    NO_KEYRING,
    StoreChoice,
    checked_key,
    mask_key,
    open_chosen_store,
    postgres_store,
    sqlite_store,
    verify_stripe_key,
)
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.theme import accent


def key_source(secrets: Secrets) -> tuple[str, str | None]:
    """Where the key in use comes from, in words, and the key itself (to be masked)."""
    env = os.environ.get(ENV_STRIPE_KEY)
    if env:
        return f"from the environment ({ENV_STRIPE_KEY}); change it there", env
    saved = secrets.get(STRIPE_KEY_ENTRY)
    if saved:
        return "from the OS keyring", saved
    return "none saved", None


def save_key(secrets: Secrets, key: str) -> None:
    """Keep the key in the keyring; `KeyringUnavailable` (in plain words) when none works."""
    try:
        secrets.set(STRIPE_KEY_ENTRY, key)
    except KeyringUnavailable:
        raise KeyringUnavailable(NO_KEYRING) from None


def check_and_save_key(secrets: Secrets, key: str, base: str) -> str:
    """Check `key` with Stripe, then keep it; returns the masked key. Off the UI thread."""
    key = checked_key(key)
    verify_stripe_key(key, base)
    save_key(secrets, key)
    return mask_key(key)


@dataclass(frozen=True)
class StoreOpened:
    url: str


def open_and_keep(secrets: Secrets, choice: StoreChoice) -> StoreOpened:
    """Open (create or upgrade) the chosen store, then keep its password in the keyring."""
    engine = open_chosen_store(choice)
    engine.dispose()
    if choice.password:
        try:
            secrets.set(db_password_entry(choice.url), choice.password)
        except KeyringUnavailable:
            raise KeyringUnavailable(NO_KEYRING) from None
    return StoreOpened(choice.url)


class StripeKeyPage(QWidget):
    key_saved = Signal(str)  # the masked key

    def __init__(
        self,
        runner: OperationRunner,
        secrets: Secrets,
        stripe_base: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._secrets = secrets
        self._base = stripe_base
        self.current = QLabel()
        self.current.setAccessibleName("The Stripe key in use")
        self.current.setWordWrap(True)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(
            "sk_test_… or sk_live_… (from the Dashboard's API keys page)"
        )
        self.key_edit.setAccessibleName("New Stripe secret key")
        self.save_button = QPushButton("&Test and save")
        self.save_button.setAccessibleName("Test the key with Stripe and save it in the keyring")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Stripe key message")
        form = QFormLayout()
        form.addRow("In use:", self.current)
        form.addRow("New key:", self.key_edit)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "The key is checked against Stripe, then kept in the OS keyring. Billing Desk "
                "never writes it to a file."
            )
        )
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.key_edit.returnPressed.connect(self._on_save_clicked)
        self._show_current()

    def _show_current(self) -> None:
        where, key = key_source(self._secrets)
        self.current.setText(f"{mask_key(key)} — {where}" if key else where.capitalize())
        from_env = bool(os.environ.get(ENV_STRIPE_KEY))
        self.key_edit.setEnabled(not from_env)
        self.save_button.setEnabled(not from_env)

    def _on_save_clicked(self) -> None:
        if not self.save_button.isEnabled():
            return
        try:
            key = checked_key(self.key_edit.text())
        except BillingDeskError as exc:
            self._say(str(exc), error=True)
            return
        self.save_button.setEnabled(False)
        self._say("Checking the key with Stripe…")
        secrets, base = self._secrets, self._base
        self._runner.run(
            lambda: check_and_save_key(secrets, key, base),
            on_success=while_alive(self, self._on_saved),
            on_failure=while_alive(self, self._on_failed),
        )

    def _on_saved(self, masked: str) -> None:
        self.key_edit.clear()
        self._show_current()
        self._say(f"Stripe accepted the key; it is saved in the keyring as {masked}.")
        self.key_saved.emit(masked)

    def _on_failed(self, message: str) -> None:
        self.save_button.setEnabled(True)
        self._say(message, error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(_sentence(text))
        self.status.setStyleSheet(f"color: {accent('danger').name()}" if error else "")


class StorePage(QWidget):
    store_chosen = Signal(str)  # the URL (never with a password)

    def __init__(
        self,
        runner: OperationRunner,
        secrets: Secrets,
        store_url: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._secrets = secrets
        self.current = QLabel(store_url)
        self.current.setAccessibleName("The store in use")
        self.current.setWordWrap(True)
        self.sqlite_radio = QRadioButton("A file on this computer (SQLite)")
        self.postgres_radio = QRadioButton("A shared PostgreSQL server")
        group = QButtonGroup(self)
        group.addButton(self.sqlite_radio)
        group.addButton(self.postgres_radio)
        self.sqlite_radio.setChecked(True)
        self.sqlite_path = QLineEdit()
        self.sqlite_path.setAccessibleName("SQLite file")
        self.sqlite_path.setPlaceholderText("/path/to/billing-desk.sqlite3")
        self.pg_url = QLineEdit()
        self.pg_url.setAccessibleName("PostgreSQL URL")
        self.pg_url.setPlaceholderText("postgresql+psycopg://USER@HOST:5432/DB")
        self.pg_password = QLineEdit()
        self.pg_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.pg_password.setAccessibleName("PostgreSQL password")
        self.pg_password.setPlaceholderText("kept in the OS keyring")
        self.use_button = QPushButton("Test and &use")
        self.use_button.setAccessibleName("Open the store and use it from the next start")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Store message")
        form = QFormLayout()
        form.addRow("In use:", self.current)
        form.addRow(self.sqlite_radio)
        form.addRow("File:", self.sqlite_path)
        form.addRow(self.postgres_radio)
        form.addRow("URL:", self.pg_url)
        form.addRow("Password:", self.pg_password)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.use_button.clicked.connect(self._on_use_clicked)
        group.buttonToggled.connect(self._on_kind_toggled)
        self._on_kind_toggled()

    def _on_kind_toggled(self, *_args: object) -> None:
        postgres = self.postgres_radio.isChecked()
        self.sqlite_path.setEnabled(not postgres)
        self.pg_url.setEnabled(postgres)
        self.pg_password.setEnabled(postgres)

    def _on_use_clicked(self) -> None:
        try:
            if self.postgres_radio.isChecked():
                choice = postgres_store(self.pg_url.text(), self.pg_password.text())
            else:
                choice = sqlite_store(self.sqlite_path.text())
        except BillingDeskError as exc:
            self._say(str(exc), error=True)
            return
        self.use_button.setEnabled(False)
        self._say("Opening the store…")
        secrets = self._secrets
        self._runner.run(
            lambda: open_and_keep(secrets, choice),
            on_success=while_alive(self, self._on_opened),
            on_failure=while_alive(self, self._on_failed),
        )

    def _on_opened(self, opened: StoreOpened) -> None:
        self.use_button.setEnabled(True)
        self.pg_password.clear()
        self._say(f"The store at {opened.url} is ready; Billing Desk opens it from the next start.")
        self.store_chosen.emit(opened.url)

    def _on_failed(self, message: str) -> None:
        self.use_button.setEnabled(True)
        self._say(message, error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(_sentence(text))
        self.status.setStyleSheet(f"color: {accent('danger').name()}" if error else "")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."

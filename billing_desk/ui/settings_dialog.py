"""Settings: the team's sync interval, grace period, per-role limits and request rates; the staff
list (admins); the Stripe key and the store (as at first run).

Team settings and staff are the store's, shared by every desk: they are read and saved off the
UI thread through the audit and staff services, which allow admins only and record every change
in the audit trail; others see them read-only, with the reason. The key and the store are this
desk's (`settings_dialog_secrets`).

Keyboard: Ctrl+S (or Alt+S) save the team settings · Alt+E / Alt+A / Alt+K / Alt+O the tabs ·
Ctrl+PgUp/PgDown switch tabs · Alt+R add or change a role · Esc close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.domain.errors import BillingDeskError
from billing_desk.domain.policy import Role
from billing_desk.domain.settings import Settings
from billing_desk.services import audit as audit_service
from billing_desk.services import staff as staff_service
from billing_desk.store import staff_repo
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.bus import AUDIT, SETTINGS, Change
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.settings_dialog_secrets import StorePage, StripeKeyPage
from billing_desk.ui.settings_dialog_values import (
    ANY_CURRENCY,
    LimitRow,
    TeamForm,
    changed_settings,
    team_form,
)
from billing_desk.ui.theme import accent
from billing_desk.ui.workspace import Workspace

ROLES = [r.value for r in Role]


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    role: Role | None
    staff: list[staff_service.StaffMember]


def load(engine: Engine, actor: str) -> Loaded:
    """The team settings, the actor's role and (for admins) the staff list, in one read."""
    with UnitOfWork(engine) as uow:
        settings = load_settings(uow.session)
        # The register, read only: the services decide; this only greys out fields.
        role = staff_repo.role_of(uow.session, actor)
        members = staff_service.members(uow, actor) if role is Role.ADMIN else []
    return Loaded(settings, role, members)


def save_settings(engine: Engine, actor: str, changes: dict[str, Any]) -> list[str]:
    """Each changed setting through the audit service (admins only; one audit row each)."""
    for key, value in changes.items():
        with UnitOfWork(engine, write=True) as uow:
            audit_service.change_setting(uow, actor, key, value)
    return list(changes)


def set_role(engine: Engine, actor: str, login: str, role: str) -> staff_service.StaffChange:
    with UnitOfWork(engine, write=True) as uow:
        return staff_service.add(uow, actor, login, role)


def not_admin_reason(role: Role | None) -> str | None:
    if role is Role.ADMIN:
        return None
    who = "not on the staff" if role is None else f"an {role.value}"
    return f"Only an admin changes these; you are {who}. They are shown read-only."


class SettingsDialog(QDialog):
    """`SettingsDialog(workspace, runner)`; `open()` it. The window reacts to the signals."""

    settings_saved = Signal(list)  # the keys that changed
    stripe_key_saved = Signal(str)  # masked: restart the worker with the new key
    store_chosen = Signal(str)  # the store URL to open from the next start
    # The first read of the store is on screen (tests wait on it).
    loaded = Signal()

    def __init__(
        self, workspace: Workspace, runner: OperationRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._workspace = workspace
        self._runner = runner
        self._current: Settings | None = None
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumSize(640, 480)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_team_page(), "T&eam")
        self.tabs.addTab(self._build_staff_page(), "St&aff")
        self.key_page = StripeKeyPage(runner, workspace.secrets, workspace.stripe_base)
        self.tabs.addTab(self.key_page, "Stripe &key")
        self.store_page = StorePage(runner, workspace.secrets, workspace.store_url)
        self.tabs.addTab(self.store_page, "St&ore")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)

        self.key_page.key_saved.connect(self.stripe_key_saved)
        self.store_page.store_chosen.connect(self.store_chosen)
        save_key = QShortcut(QKeySequence("Ctrl+S"), self)
        save_key.activated.connect(self._on_save_clicked)
        self._set_editable(False, "Reading the team settings…")
        self._reload()

    # --- team settings --------------------------------------------------------------------

    def _build_team_page(self) -> QWidget:
        page = QWidget()
        self.sync_interval = _edit("Sync interval", "e.g. 24h: pushes lines older than this")
        self.finalize_grace = _edit("Grace period", "e.g. 24h: time to correct a draft")
        self.approval_warning = _edit("Flag approvals within", "e.g. 4h before finalization")
        self.rate_test = _edit("Test-mode request rate", "requests per second")
        self.rate_live = _edit("Live-mode request rate", "requests per second")
        form = QFormLayout()
        form.addRow("Sync interval:", self.sync_interval)
        form.addRow("Grace period before finalizing:", self.finalize_grace)
        form.addRow("Flag approvals due within:", self.approval_warning)
        form.addRow("Stripe requests/s (test key):", self.rate_test)
        form.addRow("Stripe requests/s (live key):", self.rate_live)

        self.limits = QTableWidget(0, 3)
        self.limits.setAccessibleName("Limits per role and currency")
        self.limits.setHorizontalHeaderLabels(["Role", "Currency (* = any)", "Limit (major units)"])
        self.limits.verticalHeader().hide()
        self.limits.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.limits.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.add_limit = QPushButton("Add limit")
        self.add_limit.setAccessibleName("Add a limit row")
        self.remove_limit = QPushButton("Remove limit")
        self.remove_limit.setAccessibleName("Remove the selected limit row")
        limit_buttons = QHBoxLayout()
        limit_buttons.addWidget(self.add_limit)
        limit_buttons.addWidget(self.remove_limit)
        limit_buttons.addStretch(1)

        self.team_note = QLabel()
        self.team_note.setWordWrap(True)
        self.team_note.setAccessibleName("Team settings message")
        self.save_button = QPushButton("&Save team settings")
        self.save_button.setAccessibleName("Save the team settings")
        self.save_button.setToolTip("Every change is recorded in the audit trail (Ctrl+S)")
        save_row = QHBoxLayout()
        save_row.addWidget(self.team_note, 1)
        save_row.addWidget(self.save_button)

        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(
            QLabel(
                "<b>Limits</b>: the largest impact a role applies without a lead's approval "
                "(void-invoice always needs one)."
            )
        )
        layout.addWidget(self.limits, 1)
        layout.addLayout(limit_buttons)
        layout.addLayout(save_row)

        for edit in (
            self.sync_interval,
            self.finalize_grace,
            self.approval_warning,
            self.rate_test,
            self.rate_live,
        ):
            edit.textChanged.connect(self._on_team_edited)
        self.limits.itemChanged.connect(self._on_team_edited)
        self.add_limit.clicked.connect(self._on_add_limit_clicked)
        self.remove_limit.clicked.connect(self._on_remove_limit_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        return page

    def _fill_team(self, settings: Settings) -> None:
        form = team_form(settings)
        for edit, text in (
            (self.sync_interval, form.sync_interval),
            (self.finalize_grace, form.finalize_grace),
            (self.approval_warning, form.approval_warning),
            (self.rate_test, form.rate_limit_test),
            (self.rate_live, form.rate_limit_live),
        ):
            edit.blockSignals(True)
            edit.setText(text)
            edit.blockSignals(False)
        self.limits.blockSignals(True)
        self.limits.setRowCount(0)
        for row in form.limits:
            self._append_limit(row)
        self.limits.blockSignals(False)

    def _append_limit(self, row: LimitRow) -> None:
        index = self.limits.rowCount()
        self.limits.insertRow(index)
        role = QComboBox()
        role.addItems(ROLES)
        role.setCurrentText(row.role)
        role.setAccessibleName(f"Role of limit row {index + 1}")
        role.currentIndexChanged.connect(self._on_team_edited)
        self.limits.setCellWidget(index, 0, role)
        self.limits.setItem(index, 1, QTableWidgetItem(row.currency))
        amount = QTableWidgetItem(row.amount)
        amount.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.limits.setItem(index, 2, amount)

    def form(self) -> TeamForm:
        """What the team page says now."""
        rows = []
        for r in range(self.limits.rowCount()):
            role = self.limits.cellWidget(r, 0)
            currency_item, amount_item = self.limits.item(r, 1), self.limits.item(r, 2)
            rows.append(
                LimitRow(
                    role.currentText() if isinstance(role, QComboBox) else "",
                    currency_item.text() if currency_item is not None else "",
                    amount_item.text() if amount_item is not None else "",
                )
            )
        return TeamForm(
            self.sync_interval.text(),
            self.finalize_grace.text(),
            self.approval_warning.text(),
            self.rate_test.text(),
            self.rate_live.text(),
            rows,
        )

    def pending_changes(self) -> dict[str, Any]:
        """The settings the form changes; `InvalidInput` names the first bad field."""
        if self._current is None:
            return {}
        return changed_settings(self._current, self.form())

    def _on_team_edited(self, *_args: object) -> None:
        if self._current is None or not self.sync_interval.isEnabled():
            return
        try:
            changes = self.pending_changes()
        except BillingDeskError as exc:
            self._team_say(_sentence(str(exc)), error=True)
            self.save_button.setEnabled(False)
            return
        self.save_button.setEnabled(bool(changes))
        self._team_say(
            f"Changed: {', '.join(changes)}; not saved yet." if changes else "No changes."
        )

    def _on_add_limit_clicked(self) -> None:
        self._append_limit(LimitRow(Role.AGENT.value, ANY_CURRENCY, "25.00"))
        self.limits.setCurrentCell(self.limits.rowCount() - 1, 2)
        self._on_team_edited()

    def _on_remove_limit_clicked(self) -> None:
        row = self.limits.currentRow()
        if row >= 0:
            self.limits.removeRow(row)
            self._on_team_edited()

    def _on_save_clicked(self) -> None:
        if not self.save_button.isEnabled():
            return
        try:
            changes = self.pending_changes()
        except BillingDeskError as exc:
            self._team_say(_sentence(str(exc)), error=True)
            return
        if not changes:
            return
        self.save_button.setEnabled(False)
        self._team_say("Saving…")
        engine, actor = self._workspace.engine, self._workspace.user
        self._runner.run(
            lambda: save_settings(engine, actor, changes),
            on_success=while_alive(self, self._on_saved),
            on_failure=while_alive(self, self._on_save_failed),
            change=Change.of(SETTINGS, AUDIT),
        )

    def _on_saved(self, keys: list[str]) -> None:
        self._team_say(f"Saved: {', '.join(keys)}. The change is in the audit trail.")
        self.settings_saved.emit(keys)
        self._reload()

    def _on_save_failed(self, message: str) -> None:
        self._team_say(message, error=True)
        self.save_button.setEnabled(True)

    def _team_say(self, text: str, *, error: bool = False) -> None:
        self.team_note.setText(text)
        self.team_note.setStyleSheet(f"color: {accent('danger').name()}" if error else "")

    # --- staff ----------------------------------------------------------------------------

    def _build_staff_page(self) -> QWidget:
        page = QWidget()
        self.staff = QTableWidget(0, 3)
        self.staff.setAccessibleName("Staff")
        self.staff.setHorizontalHeaderLabels(["Login", "Role", "Added by"])
        self.staff.verticalHeader().hide()
        self.staff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.staff.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.staff.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.staff_login = QLineEdit()
        self.staff_login.setAccessibleName("Login to add or change")
        self.staff_login.setPlaceholderText("login (on PostgreSQL, the database login)")
        self.staff_role = QComboBox()
        self.staff_role.setAccessibleName("Role to give")
        self.staff_role.addItems(ROLES)
        self.staff_button = QPushButton("Add or change &role")
        self.staff_button.setAccessibleName("Give the login this role")
        self.staff_note = QLabel()
        self.staff_note.setWordWrap(True)
        self.staff_note.setAccessibleName("Staff message")
        row = QHBoxLayout()
        row.addWidget(self.staff_login, 1)
        row.addWidget(self.staff_role)
        row.addWidget(self.staff_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.staff, 1)
        layout.addLayout(row)
        layout.addWidget(self.staff_note)
        self.staff.itemSelectionChanged.connect(self._on_staff_selection_changed)
        self.staff_button.clicked.connect(self._on_staff_clicked)
        self.staff_login.returnPressed.connect(self._on_staff_clicked)
        return page

    def _fill_staff(self, members: list[staff_service.StaffMember]) -> None:
        self.staff.setRowCount(0)
        for member in members:
            r = self.staff.rowCount()
            self.staff.insertRow(r)
            for c, text in enumerate(
                (member.login, member.role, f"{member.added_by}, {member.added_at:%Y-%m-%d}")
            ):
                self.staff.setItem(r, c, QTableWidgetItem(text))

    def _on_staff_selection_changed(self) -> None:
        row = self.staff.currentRow()
        login, role = self.staff.item(row, 0), self.staff.item(row, 1)
        if login is not None and role is not None:
            self.staff_login.setText(login.text())
            self.staff_role.setCurrentText(role.text())

    def _on_staff_clicked(self) -> None:
        login = self.staff_login.text().strip()
        if not self.staff_button.isEnabled():
            return
        if not login:
            self._staff_say("Enter the login to add or change.", error=True)
            return
        self.staff_button.setEnabled(False)
        engine, actor, role = (
            self._workspace.engine,
            self._workspace.user,
            self.staff_role.currentText(),
        )
        self._runner.run(
            lambda: set_role(engine, actor, login, role),
            on_success=while_alive(self, self._on_staff_changed),
            on_failure=while_alive(self, self._on_staff_failed),
            change=Change.of(AUDIT),
        )

    def _on_staff_changed(self, change: staff_service.StaffChange) -> None:
        was = f" (was {change.previous.value})" if change.previous is not None else ""
        self._staff_say(f"{change.login} is now {change.role.value}{was}.")
        self.staff_login.clear()
        self._reload()

    def _on_staff_failed(self, message: str) -> None:
        self.staff_button.setEnabled(True)
        self._staff_say(message, error=True)

    def _staff_say(self, text: str, *, error: bool = False) -> None:
        self.staff_note.setText(text)
        self.staff_note.setStyleSheet(f"color: {accent('danger').name()}" if error else "")

    # --- loading --------------------------------------------------------------------------

    def _reload(self) -> None:
        engine, actor = self._workspace.engine, self._workspace.user
        self._runner.run(
            lambda: load(engine, actor),
            on_success=while_alive(self, self._on_loaded),
            on_failure=while_alive(self, self._on_load_failed),
        )

    def _on_loaded(self, loaded: Loaded) -> None:
        self._current = loaded.settings
        self._fill_team(loaded.settings)
        self._fill_staff(loaded.staff)
        reason = not_admin_reason(loaded.role)
        self._set_editable(reason is None, reason or "No changes.")
        self.staff_button.setEnabled(reason is None)
        self.staff_login.setEnabled(reason is None)
        self.staff_role.setEnabled(reason is None)
        if reason is not None:
            self._staff_say(reason.replace("these", "the staff list"))
        self.loaded.emit()

    def _on_load_failed(self, message: str) -> None:
        self._team_say(message, error=True)
        self.loaded.emit()

    def _set_editable(self, editable: bool, note: str) -> None:
        for widget in (
            self.sync_interval,
            self.finalize_grace,
            self.approval_warning,
            self.rate_test,
            self.rate_live,
            self.limits,
            self.add_limit,
            self.remove_limit,
        ):
            widget.setEnabled(editable)
        self.save_button.setEnabled(False)
        self._team_say(note)


def _edit(name: str, placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setAccessibleName(name)
    edit.setPlaceholderText(placeholder)
    return edit


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text + "."

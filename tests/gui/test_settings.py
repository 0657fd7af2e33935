"""Settings: team settings saved through the audit service (admins only, each change audited),
the staff list, the Stripe key checked against the sandbox and kept in the keyring only, and the
store chosen as at first run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from shiboken6 import isValid
from sqlalchemy import Engine, select

from billing_desk.config import STRIPE_KEY_ENTRY, KeyringSecrets, MemorySecrets, Secrets
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.settings import Settings
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import SchemaState, schema_state
from billing_desk.store.models.corrections import AuditRow
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.first_run import NO_KEYRING, mask_key
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.settings_dialog import SettingsDialog
from billing_desk.ui.settings_dialog_values import (
    LimitRow,
    changed_settings,
    format_duration,
    read_limits,
    team_form,
)
from billing_desk.ui.workspace import Workspace
from tests.conftest import StripeSandbox
from tests.integration.corrections_support import add_staff

WAIT_MS = 20_000


def test_durations_and_limits_as_people_type_them() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (0, 90, 5400, 86400, 7200)] == [
        "0",
        "90s",
        "90m",
        "1d",
        "2h",
    ]
    limits = read_limits([LimitRow("agent", "*", "25.00"), LimitRow("agent", "JPY", "3000")])
    assert limits == {"agent": {"*": Decimal("25.00"), "jpy": Decimal("3000")}}
    for rows, message in (
        ([LimitRow("boss", "*", "1")], "role 'boss' is not agent, lead or admin"),
        ([LimitRow("agent", "usd", "25.001")], "USD takes at most 2 decimals"),
        ([LimitRow("agent", "jpy", "1.5")], "JPY takes at most 0 decimals"),
        ([LimitRow("agent", "xyz", "1")], "'xyz' is not a currency Stripe supports"),
        ([LimitRow("agent", "*", "-1")], "is not an amount like 25.00"),
        ([LimitRow("lead", "*", "1"), LimitRow("lead", "", "2")], "lead already has a limit"),
    ):
        with pytest.raises(InvalidInput, match=message):
            read_limits(rows)


def test_only_what_changed_is_saved() -> None:
    current = Settings()
    form = team_form(current)
    assert changed_settings(current, form) == {}
    edited = replace(form, sync_interval="6h", rate_limit_test="10")
    assert changed_settings(current, edited) == {"sync_interval": 21600, "rate_limit_test": 10.0}
    bad = replace(form, sync_interval="6 hours")
    with pytest.raises(InvalidInput, match="Sync interval: '6 hours' is not 0 or a number"):
        changed_settings(current, bad)


@pytest.fixture
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner(ChangeBus())
    yield runner
    assert runner.shutdown()


def open_settings(
    qtbot: QtBot,
    store: Engine,
    runner: OperationRunner,
    user: str,
    secrets: Secrets | None = None,
    stripe_base: str = "http://127.0.0.1:9",
) -> SettingsDialog:
    if not _has_staff(store):
        add_staff(store, {"ada": "admin", "ann": "agent"})
    workspace = Workspace(
        engine=store,
        store_url=str(store.url),
        user=user,
        stripe_base=stripe_base,
        secrets=secrets or MemorySecrets(),
    )
    dialog = SettingsDialog(workspace, runner)
    qtbot.addWidget(dialog)
    with qtbot.wait_signal(dialog.loaded, timeout=WAIT_MS):
        dialog.show()
    return dialog


def _has_staff(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT count(*) FROM staff").scalar())


def audit_rows(engine: Engine, action: str) -> list[tuple[str, str]]:
    with UnitOfWork(engine) as uow:
        return [
            (r.actor, r.subject)
            for r in uow.session.scalars(
                select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.seq)
            )
        ]


def test_an_admin_saves_team_settings_and_each_change_is_audited(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    dialog = open_settings(qtbot, store, runner, "ada")
    assert dialog.sync_interval.text() == "1d"
    assert dialog.team_note.text() == "No changes."
    assert not dialog.save_button.isEnabled()
    dialog.sync_interval.setText("6h")
    dialog.finalize_grace.setText("2h")
    dialog.add_limit.click()
    dialog.limits.item(dialog.limits.rowCount() - 1, 1).setText("usd")
    dialog.limits.item(dialog.limits.rowCount() - 1, 2).setText("50.00")
    assert dialog.team_note.text() == (
        "Changed: sync_interval, finalize_grace, limits; not saved yet."
    )
    with qtbot.wait_signal(dialog.settings_saved, timeout=WAIT_MS) as saved:
        dialog.save_button.click()
    assert saved.args == [["sync_interval", "finalize_grace", "limits"]]
    with UnitOfWork(store) as uow:
        settings = load_settings(uow.session)
    assert settings.sync_interval == timedelta(hours=6)
    assert settings.finalize_grace == timedelta(hours=2)
    assert settings.limit_for("agent", "usd") == Decimal("50.00")
    assert settings.limit_for("agent", "eur") == Decimal("25.00")
    assert audit_rows(store, "setting.changed") == [
        ("ada", "setting:sync_interval"),
        ("ada", "setting:finalize_grace"),
        ("ada", "setting:limits"),
    ]


def test_bad_values_are_named_before_saving(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    dialog = open_settings(qtbot, store, runner, "ada")
    dialog.finalize_grace.setText("two days")
    assert dialog.team_note.text().startswith("Grace period: 'two days' is not 0 or a number")
    assert not dialog.save_button.isEnabled()
    dialog.finalize_grace.setText("2d")
    dialog.limits.item(0, 2).setText("25.001")
    assert dialog.team_note.text() == ("Limits row 1: * takes at most 2 decimals, not '25.001'.")
    assert not dialog.save_button.isEnabled()


def test_others_see_the_settings_read_only_and_why(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    dialog = open_settings(qtbot, store, runner, "ann")
    assert not dialog.sync_interval.isEnabled()
    assert not dialog.limits.isEnabled()
    assert not dialog.save_button.isEnabled()
    assert dialog.team_note.text() == (
        "Only an admin changes these; you are an agent. They are shown read-only."
    )
    assert not dialog.staff_button.isEnabled()
    assert dialog.staff.rowCount() == 0
    assert "Only an admin changes the staff list" in dialog.staff_note.text()


def test_an_admin_adds_staff_and_it_is_audited(
    qtbot: QtBot, store: Engine, runner: OperationRunner
) -> None:
    dialog = open_settings(qtbot, store, runner, "ada")
    assert {dialog.staff.item(r, 0).text() for r in range(dialog.staff.rowCount())} == {
        "ada",
        "ann",
    }
    dialog.staff_login.setText("newbie")
    dialog.staff_role.setCurrentText("lead")
    with qtbot.wait_signal(dialog.loaded, timeout=WAIT_MS):
        dialog.staff_button.click()
    assert dialog.staff_note.text() == "newbie is now lead."
    assert "newbie" in {dialog.staff.item(r, 0).text() for r in range(dialog.staff.rowCount())}
    assert audit_rows(store, "staff.role_set") == [("ada", "staff:newbie")]


def test_a_good_key_is_checked_with_stripe_and_kept_in_the_keyring_masked(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    secrets = MemorySecrets()
    dialog = open_settings(qtbot, store, runner, "ada", secrets, stripe_sandbox.url)
    page = dialog.key_page
    assert page.current.text() == "None saved"
    page.key_edit.setText(stripe_sandbox.api_key)
    with qtbot.wait_signal(dialog.stripe_key_saved, timeout=WAIT_MS) as saved:
        page.save_button.click()
    masked = mask_key(stripe_sandbox.api_key)
    assert saved.args == [masked]
    assert secrets.get(STRIPE_KEY_ENTRY) == stripe_sandbox.api_key
    assert page.current.text() == f"{masked} — from the OS keyring"
    assert stripe_sandbox.api_key not in page.current.text() + page.status.text()
    assert page.key_edit.text() == ""


def test_a_rejected_key_is_not_saved(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    secrets = MemorySecrets()
    dialog = open_settings(qtbot, store, runner, "ada", secrets, stripe_sandbox.url)
    page = dialog.key_page
    page.key_edit.setText("sk_live_" + "x" * 24)
    page.save_button.click()
    qtbot.wait_until(lambda: page.save_button.isEnabled(), timeout=WAIT_MS)
    assert "Stripe rejected the API key" in page.status.text()
    assert secrets.get(STRIPE_KEY_ENTRY) is None
    page.key_edit.setText("pk_test_123456789012345678")
    page.save_button.click()
    assert page.status.text().startswith("That is not a Stripe secret key")


def test_with_no_working_keyring_the_key_is_written_nowhere(
    qtbot: QtBot,
    store: Engine,
    runner: OperationRunner,
    stripe_sandbox: StripeSandbox,
    tmp_path: Path,
) -> None:
    # The suite runs with keyring's "fail" backend (tests/conftest.py): no keyring works.
    dialog = open_settings(qtbot, store, runner, "ada", KeyringSecrets(), stripe_sandbox.url)
    page = dialog.key_page
    page.key_edit.setText(stripe_sandbox.api_key)
    page.save_button.click()
    qtbot.wait_until(lambda: page.save_button.isEnabled(), timeout=WAIT_MS)
    assert page.status.text() == NO_KEYRING
    assert page.current.text() == "None saved"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert stripe_sandbox.api_key.encode() not in path.read_bytes()


def test_a_new_store_is_opened_before_it_is_chosen(
    qtbot: QtBot, store: Engine, runner: OperationRunner, tmp_path: Path
) -> None:
    dialog = open_settings(qtbot, store, runner, "ada")
    page = dialog.store_page
    page.postgres_radio.setChecked(True)
    page.pg_url.setText("mysql://db/x")
    page.use_button.click()
    assert page.status.text().startswith("The PostgreSQL URL must look like")
    page.sqlite_radio.setChecked(True)
    target = tmp_path / "other.sqlite3"
    page.sqlite_path.setText(str(target))
    with qtbot.wait_signal(dialog.store_chosen, timeout=WAIT_MS) as chosen:
        page.use_button.click()
    assert chosen.args == [f"sqlite:///{target}"]
    engine = create_store_engine(f"sqlite:///{target}")
    try:
        assert schema_state(engine) is SchemaState.CURRENT
    finally:
        engine.dispose()


def test_closing_while_the_key_is_checked_drops_the_late_answer(
    qtbot: QtBot, store: Engine, runner: OperationRunner, stripe_sandbox: StripeSandbox
) -> None:
    secrets = MemorySecrets()
    stripe_sandbox.admin.configure(latency_ms=300)
    dialog = open_settings(qtbot, store, runner, "ada", secrets, stripe_sandbox.url)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.key_page.key_edit.setText(stripe_sandbox.api_key)
    dialog.key_page.save_button.click()
    dialog.close()
    qtbot.wait_until(lambda: not isValid(dialog), timeout=WAIT_MS)
    assert runner.busy  # the answer is still on its way
    qtbot.wait_until(lambda: not runner.busy, timeout=WAIT_MS)
    # The check finished after the dialog was gone: saved, and nothing touched a deleted widget.
    assert secrets.get(STRIPE_KEY_ENTRY) == stripe_sandbox.api_key

"""First run: the welcome screen checks the key with Stripe (the sandbox), opens the store,
keeps the secrets in the keyring only, and says so plainly when no keyring works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from billing_desk.config import STRIPE_KEY_ENTRY, KeyringSecrets, MemorySecrets, Secrets
from billing_desk.store.migrate import SchemaState, schema_state
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.first_run import NO_KEYRING, mask_key
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.views.welcome import Connection, WelcomeView
from tests.conftest import StripeSandbox


@pytest.fixture
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner(ChangeBus())
    yield runner
    assert runner.shutdown()


def _welcome(qtbot: QtBot, runner: OperationRunner, secrets: Secrets, base: str) -> WelcomeView:
    view = WelcomeView(runner, secrets, base)
    qtbot.addWidget(view)
    view.show()
    view.connect_button.click()
    return view


def _fill(view: WelcomeView, key: str, store_file: Path) -> None:
    view.key_edit.setText(key)
    view.sqlite_radio.setChecked(True)
    view.sqlite_path.setText(str(store_file))


def test_a_good_key_is_checked_saved_and_then_shown_masked(
    qtbot: QtBot,
    runner: OperationRunner,
    secrets: MemorySecrets,
    stripe_sandbox: StripeSandbox,
    tmp_path: Path,
) -> None:
    view = _welcome(qtbot, runner, secrets, stripe_sandbox.url)
    _fill(view, stripe_sandbox.api_key, tmp_path / "desk.sqlite3")
    with qtbot.wait_signal(view.connected, timeout=20_000) as blocker:
        view.submit_button.click()
    connection: Connection = blocker.args[0]
    try:
        assert connection.key_saved
        assert connection.store_url == f"sqlite:///{tmp_path / 'desk.sqlite3'}"
        assert schema_state(connection.engine) is SchemaState.CURRENT
        assert secrets.get(STRIPE_KEY_ENTRY) == stripe_sandbox.api_key
        assert view.key_edit.isHidden()
        assert view.key_label.text().startswith(mask_key(stripe_sandbox.api_key))
        assert stripe_sandbox.api_key not in view.key_label.text()
        assert stripe_sandbox.admin.counts() == {"GET /v1/events": 1}
    finally:
        connection.engine.dispose()


def test_a_rejected_key_is_said_plainly_and_nothing_is_saved(
    qtbot: QtBot,
    runner: OperationRunner,
    secrets: MemorySecrets,
    stripe_sandbox: StripeSandbox,
    tmp_path: Path,
) -> None:
    view = _welcome(qtbot, runner, secrets, stripe_sandbox.url)
    _fill(view, "sk_live_" + "x" * 24, tmp_path / "desk.sqlite3")
    connected: list[object] = []
    view.connected.connect(connected.append)
    view.submit_button.click()
    qtbot.wait_until(lambda: view.submit_button.isEnabled())
    assert "Stripe rejected the API key" in view.status.text()
    assert connected == []
    assert secrets.get(STRIPE_KEY_ENTRY) is None


def test_no_working_keyring_is_said_clearly_and_never_falls_back_to_a_file(
    qtbot: QtBot, runner: OperationRunner, stripe_sandbox: StripeSandbox, tmp_path: Path
) -> None:
    # The suite runs with keyring's "fail" backend (tests/conftest.py): no keyring works.
    view = _welcome(qtbot, runner, KeyringSecrets(), stripe_sandbox.url)
    _fill(view, stripe_sandbox.api_key, tmp_path / "desk.sqlite3")
    view.submit_button.click()
    qtbot.wait_until(lambda: view.session_only_button.isVisible(), timeout=20_000)
    assert view.status.text() == NO_KEYRING
    before = {p.name for p in tmp_path.iterdir()}
    with qtbot.wait_signal(view.connected) as blocker:
        view.session_only_button.click()
    connection: Connection = blocker.args[0]
    try:
        assert not connection.key_saved
        assert connection.secrets.get(STRIPE_KEY_ENTRY) == stripe_sandbox.api_key
        assert "kept for this session only" in view.key_label.text()
        # No new file, and the key is in no file under the folder.
        assert {p.name for p in tmp_path.iterdir()} == before
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert stripe_sandbox.api_key.encode() not in path.read_bytes()
    finally:
        connection.engine.dispose()


@pytest.mark.parametrize(
    ("key", "pg_url", "message"),
    [
        ("", None, "Enter the Stripe secret key"),
        ("pk_test_123456789012345678", None, "That is not a Stripe secret key"),
        ("sk_test_short", None, "looks cut short"),
        ("sk_test_" + "a" * 24, "mysql://db/x", "The PostgreSQL URL must look like"),
        ("sk_test_" + "a" * 24, "postgresql://agent@db:5432", "must name a database"),
    ],
)
def test_bad_input_is_named_before_anything_is_sent(
    qtbot: QtBot,
    runner: OperationRunner,
    secrets: MemorySecrets,
    key: str,
    pg_url: str | None,
    message: str,
) -> None:
    view = _welcome(qtbot, runner, secrets, "http://127.0.0.1:9")
    view.key_edit.setText(key)
    if pg_url is not None:
        view.postgres_radio.setChecked(True)
        view.pg_url.setText(pg_url)
    view.submit_button.click()
    assert message in view.status.text()
    assert view.submit_button.isEnabled()


def test_the_demo_button_asks_for_the_demo(qtbot: QtBot, runner: OperationRunner) -> None:
    view = WelcomeView(runner, MemorySecrets(), "http://127.0.0.1:9")
    qtbot.addWidget(view)
    with qtbot.wait_signal(view.demo_requested):
        view.demo_button.click()

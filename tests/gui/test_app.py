"""The app's start: no key -> the welcome screen -> connected -> the main window; a configured
desk goes straight to the main window on the store chosen at first run."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from billing_desk.config import STRIPE_KEY_ENTRY, MemorySecrets, RuntimeOptions
from billing_desk.ui.app import AppController, LaunchOptions, ShellWindow
from billing_desk.ui.crash import CrashReporter
from billing_desk.ui.main_window import MainWindow
from billing_desk.ui.persist import UiState
from billing_desk.ui.views.welcome import WelcomeView
from tests.conftest import StripeSandbox


def _controller(
    secrets: MemorySecrets, ui_state: UiState, crash_dir: Path, stripe_base: str
) -> AppController:
    options = RuntimeOptions.resolve(as_user="lead.lee", stripe_base=stripe_base)
    reporter = CrashReporter(crash_dir, show_dialog=False)
    return AppController(options, secrets, LaunchOptions(), ui_state, reporter)


def _close_main(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.wait_signal(window.closed, timeout=10_000):
        window.close()


def test_first_run_leads_to_the_main_window_and_the_next_start_skips_it(
    qtbot: QtBot,
    secrets: MemorySecrets,
    ui_state: UiState,
    crash_dir: Path,
    stripe_sandbox: StripeSandbox,
    tmp_path: Path,
) -> None:
    controller = _controller(secrets, ui_state, crash_dir, stripe_sandbox.url)
    controller.start()
    shell = controller.window
    assert isinstance(shell, ShellWindow)
    welcome = shell.centralWidget()
    assert isinstance(welcome, WelcomeView)
    welcome.connect_button.click()
    welcome.key_edit.setText(stripe_sandbox.api_key)
    welcome.sqlite_path.setText(str(tmp_path / "chosen.sqlite3"))
    with qtbot.wait_signal(controller.window_ready, timeout=20_000) as ready:
        welcome.submit_button.click()
    window = ready.args[0]
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    assert not shell.isVisible()
    assert ui_state.store_url() == f"sqlite:///{tmp_path / 'chosen.sqlite3'}"
    assert secrets.get(STRIPE_KEY_ENTRY) == stripe_sandbox.api_key
    _close_main(qtbot, window)

    again = _controller(secrets, ui_state, crash_dir, stripe_sandbox.url)
    with qtbot.wait_signal(again.window_ready, timeout=20_000) as ready:
        again.start()
    second = ready.args[0]
    qtbot.addWidget(second)
    assert second.workspace.store_url == f"sqlite:///{tmp_path / 'chosen.sqlite3'}"
    _close_main(qtbot, second)

"""The desktop app's entry point: the QApplication, its look, the crash reporter, and which
window opens first (the welcome screen, the main window, or the demo workspace).

`run(...)` is what `billing-desk gui` calls. With `screenshot`, the main window is rendered to a
PNG once the first customer view has loaded, and the app exits 0 (works offscreen).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
from sqlalchemy import Engine, select

from billing_desk.config import (
    RuntimeOptions,
    Secrets,
    data_dir,
    db_password_entry,
    stripe_api_key,
)
from billing_desk.services.staff import identity
from billing_desk.store.migrate import open_store
from billing_desk.store.models import Customer
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.crash import CrashReporter
from billing_desk.ui.main_window import MainWindow
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import APPLICATION, ORGANIZATION, UiState
from billing_desk.ui.theme import ThemeFollower
from billing_desk.ui.workspace import Workspace

RESOURCES = Path(__file__).with_name("resources")
SCREENSHOT_SIZE = (1440, 860)
SHOT_TICK_MS = 50
SHOT_WAIT_MS = 5000


@dataclass(frozen=True)
class LaunchOptions:
    demo: bool = False
    screenshot: Path | None = None
    customer: str | None = None
    # --db or BILLING_DESK_DB was given: it wins over the store chosen at first run.
    db_explicit: bool = False
    # --as or BILLING_DESK_USER, if given (on PostgreSQL it must be the database login).
    user_named: str | None = None


def application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication([sys.argv[0] if sys.argv else "billing-desk"])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Billing Desk")
    app.setWindowIcon(QIcon(str(RESOURCES / "billing-desk.svg")))
    return app


class ShellWindow(QMainWindow):
    """A top-level window of the start-up sequence (welcome, preparing the demo)."""

    closed = Signal()

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        self.closed.emit()


def run(options: RuntimeOptions, secrets: Secrets, launch: LaunchOptions) -> int:
    app = application()
    # Windows hand over to each other (welcome -> main): the controller decides when to quit.
    app.setQuitOnLastWindowClosed(False)
    ThemeFollower(app)
    reporter = CrashReporter(data_dir() / "crash-reports")
    reporter.install()
    controller = AppController(options, secrets, launch, UiState(), reporter)
    controller.start()
    code = app.exec()
    return controller.exit_code if controller.exit_code is not None else code


class AppController(QObject):
    """Decides what opens first and owns the top-level windows."""

    # The main window is on screen and its event loop turns: the agent can type (cold start).
    window_ready = Signal(object)  # MainWindow

    def __init__(
        self,
        options: RuntimeOptions,
        secrets: Secrets,
        launch: LaunchOptions,
        ui_state: UiState,
        reporter: CrashReporter,
    ) -> None:
        super().__init__()
        self.options = options
        self.secrets = secrets
        self.launch = launch
        self.ui_state = ui_state
        self.reporter = reporter
        self.bus = ChangeBus(self)
        self.runner = OperationRunner(self.bus, self)
        self.runner.bug_found.connect(reporter.report)
        self.window: QMainWindow | None = None
        self.exit_code: int | None = None
        self._shot_taken = False
        self._handing_over = False

    # Which window first

    def start(self) -> None:
        if self.launch.demo:
            self.open_demo()
        elif stripe_api_key(self.secrets) is None:
            if self.launch.screenshot is not None:
                self._fail(
                    "no Stripe key is configured: run the app once to connect, or use --demo"
                )
                return
            self.show_welcome()
        else:
            self.open_store(self.store_url())

    def store_url(self) -> str:
        if self.launch.db_explicit:
            return self.options.db_url
        return self.ui_state.store_url() or self.options.db_url

    def _shell(self, title: str) -> ShellWindow:
        window = ShellWindow()
        window.setWindowTitle(title)
        window.closed.connect(self._on_shell_closed)
        return window

    def _on_shell_closed(self) -> None:
        if not self._handing_over:
            self._quit()

    def _hand_over(self, window: QMainWindow) -> None:
        """Close a start-up window because another one takes its place."""
        self._handing_over = True
        try:
            window.close()
        finally:
            self._handing_over = False

    def show_welcome(self, message: str = "") -> None:
        from billing_desk.ui.views.welcome import Connection, WelcomeView

        window = self._shell("Billing Desk")
        welcome = WelcomeView(self.runner, self.secrets, self.options.stripe_base)
        window.setCentralWidget(welcome)
        window.resize(980, 640)
        if message:
            welcome.show_message(message)

        def connected(connection: Connection) -> None:
            self.ui_state.set_store_url(connection.store_url)
            self.ui_state.sync()
            self._open_main(connection.engine, connection.store_url, connection.secrets)
            self._hand_over(window)

        welcome.connected.connect(connected)

        def demo_requested() -> None:
            self._hand_over(window)
            self.open_demo()

        welcome.demo_requested.connect(demo_requested)
        self._show(window)

    def open_store(self, url: str) -> None:
        password = None
        if url.startswith("postgresql"):
            password = self.secrets.get(db_password_entry(url))

        def failed(message: str) -> None:
            if self.launch.screenshot is not None:
                self._fail(message)
            else:
                self.show_welcome(message)

        self.runner.run(
            lambda: open_store(url, password),
            on_success=lambda engine: self._open_main(engine, url, self.secrets),
            on_failure=failed,
        )

    def open_demo(self) -> None:
        from billing_desk.ui.demo import start_demo

        waiting = self._shell("Billing Desk — demo workspace")
        note = QLabel(
            "Preparing the demo workspace: starting a local Stripe stand-in and "
            "filling a sample ledger…"
        )
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        note.setWordWrap(True)
        waiting.setCentralWidget(note)
        waiting.resize(520, 160)
        if self.launch.screenshot is None:
            self._show(waiting)

        def ready(workspace: Workspace) -> None:
            self._open_workspace(workspace)
            self._hand_over(waiting)

        def failed(message: str) -> None:
            self._hand_over(waiting)
            self._fail(message)

        self.runner.run(lambda: start_demo(self.options.user), on_success=ready, on_failure=failed)

    # The main window

    def _open_main(self, engine: Engine, url: str, secrets: Secrets) -> None:
        """The main window on `engine`, acting as the store's idea of who this is (on
        PostgreSQL the database login; `--as` naming anyone else is refused there)."""
        named, default = self.launch.user_named, self.options.user

        def acting() -> str:
            with UnitOfWork(engine) as uow:
                return identity(uow, named, default)

        def opened(user: str) -> None:
            workspace = Workspace(
                engine,
                url,
                user,
                self.options.stripe_base,
                secrets,
                start_customer=self.launch.customer,
            )
            self._open_workspace(workspace)

        def refused(message: str) -> None:
            engine.dispose()
            if self.launch.screenshot is not None:
                self._fail(message)
            else:
                self.show_welcome(message)

        self.runner.run(acting, on_success=opened, on_failure=refused)

    def _open_workspace(self, workspace: Workspace) -> None:
        if self.launch.customer is not None:
            workspace.start_customer = self.launch.customer
        shooting = self.launch.screenshot is not None
        window = MainWindow(workspace, self.ui_state, self.reporter, start_worker=not shooting)
        window.closed.connect(self._on_window_closed)
        QTimer.singleShot(0, lambda: self.window_ready.emit(window))
        if shooting:
            window.resize(*SCREENSHOT_SIZE)
            window.customer.customer_loaded.connect(lambda _cid: self._shoot(window))
            if workspace.start_customer is None:
                self.runner.run(
                    lambda: _first_customer(workspace),
                    on_success=lambda cid: (
                        window.open_customer(cid) if cid else self._shoot(window)
                    ),
                )
        self._show(window)

    def _show(self, window: QMainWindow) -> None:
        self.window = window
        window.show()
        window.raise_()

    # Screenshot mode

    def _shoot(self, window: MainWindow) -> None:
        """Grab once the reads the first view started (badges, the attention list) are in."""
        if self._shot_taken:
            return
        self._shot_taken = True
        ticks = {"idle": 0, "left": SHOT_WAIT_MS // SHOT_TICK_MS}

        def tick() -> None:
            busy = window.runner.busy or window.search_runner.busy
            ticks["idle"] = 0 if busy else ticks["idle"] + 1
            ticks["left"] -= 1
            if ticks["idle"] >= 2 or ticks["left"] <= 0:
                timer.stop()
                self._save_shot(window)

        timer = QTimer(self)
        timer.setInterval(SHOT_TICK_MS)
        timer.timeout.connect(tick)
        timer.start()

    def _save_shot(self, window: QMainWindow) -> None:
        path = self.launch.screenshot
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(path), "PNG"):
            self._fail(f"could not write the screenshot to {path}")
            return
        self.exit_code = 0
        window.close()

    # Ending

    def _on_window_closed(self) -> None:
        self._quit()

    def _quit(self) -> None:
        self.runner.shutdown()
        QTimer.singleShot(0, QApplication.quit)

    def _fail(self, message: str) -> None:
        sys.stderr.write(f"billing-desk: error: {message}\n")
        self.exit_code = 5
        self._quit()


def _first_customer(workspace: Workspace) -> str | None:
    with UnitOfWork(workspace.engine) as uow:
        return uow.session.scalar(select(Customer.id).order_by(Customer.id).limit(1))

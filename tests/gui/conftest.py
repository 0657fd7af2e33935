"""Shared GUI fixtures (pytest-qt, offscreen), strict in the qutebrowser/napari way.

- Every Qt warning fails the test (`qt_log_level_fail("WARNING")` on each item here).
- Every Python log record at WARNING or above fails the test unless the test announced it with
  `expect_log("substring")`.
- A test that leaves a QThread running, or work in a QThreadPool, fails.
- QSettings go to a per-test INI file; secrets to an in-memory keyring; crash reports to tmp.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QThread, QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine

from billing_desk.config import MemorySecrets, RuntimeOptions
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.ui.persist import UiState

GUI_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if GUI_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            # The offscreen platform has no window manager to take size hints or raise a window.
            item.add_marker(pytest.mark.qt_log_ignore("propagateSizeHints", "support raise"))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class ExpectedLogs:
    """Log warnings a test provokes on purpose: `expect_log("substring")`."""

    def __init__(self) -> None:
        self.patterns: list[str] = []

    def __call__(self, substring: str) -> None:
        self.patterns.append(substring)


@pytest.fixture
def expect_log() -> ExpectedLogs:
    return ExpectedLogs()


@pytest.fixture(autouse=True)
def _strict_logging(expect_log: ExpectedLogs) -> Iterator[None]:
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    patterns = expect_log.patterns
    unexpected = [r for r in collector.records if not any(p in r.getMessage() for p in patterns)]
    if unexpected:
        lines = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in unexpected)
        pytest.fail(f"unexpected log records at WARNING or above:\n{lines}")


@pytest.fixture(autouse=True)
def _no_thread_left_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails a test that leaves a QThread running or QThreadPool work under way (napari)."""
    started: weakref.WeakSet[QThread] = weakref.WeakSet()
    original = QThread.start

    def _tracking_start(self: QThread, *args: object) -> None:
        started.add(self)
        original(self, *args)

    monkeypatch.setattr(QThread, "start", _tracking_start)
    yield
    running = [t for t in list(started) if t.isRunning()]
    for thread in running:  # stop them anyway, so one failure does not crash the session
        thread.quit()
        thread.wait(5000)
    pool_busy = not QThreadPool.globalInstance().waitForDone(2000)
    if running:
        pytest.fail(f"the test left {len(running)} QThread(s) running")
    if pool_busy:
        pytest.fail("the test left work running in the global QThreadPool")


@pytest.fixture(autouse=True)
def _application(qapp: QApplication) -> QApplication:
    """Every GUI test, widget-less model tests included, has the QApplication (icons and
    colours need a QGuiApplication)."""
    return qapp


@pytest.fixture(autouse=True)
def ui_state(tmp_path: Path) -> UiState:
    """Per-test window preferences (geometry, columns, first-run store choice) in an INI file."""
    settings = QSettings(str(tmp_path / "ui-state.ini"), QSettings.Format.IniFormat)
    return UiState(settings)


@pytest.fixture
def secrets() -> MemorySecrets:
    """An in-memory keyring: nothing touches the OS keyring."""
    return MemorySecrets()


@pytest.fixture
def crash_dir(tmp_path: Path) -> Path:
    return tmp_path / "crash-reports"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'desk.sqlite3'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """A freshly migrated SQLite store (GUI tests run on SQLite; the services they call are
    tested on both backends in tests/integration)."""
    engine = create_store_engine(store_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def options(store_url: str) -> RuntimeOptions:
    return RuntimeOptions.resolve(db=store_url, as_user="agent.alice")

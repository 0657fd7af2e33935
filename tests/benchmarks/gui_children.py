"""The fresh processes of the GUI benchmark (test_gui_bench), and the event-loop helpers it
shares with them: `python -m tests.benchmarks.gui_children MODE ...`.

A module of its own so that a child process loads what the app loads and no more (not pytest,
not the benchmark's fixtures): its start-up time is the app's.

    cold-start URL    the app's main window on the store at URL; prints "ready" once usable
    memory URL        the same, then searches and opens a customer; prints its peak memory
    bare-window [memory]   a bare PySide6 QMainWindow, the baseline of both
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def wait_for(signal: object, timeout_ms: int = 30_000) -> list[object]:
    """Run the event loop until `signal` fires; its arguments."""
    loop = QEventLoop()
    got: list[object] = []

    def fired(*args: object) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(fired)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(fired)  # type: ignore[attr-defined]
    return got


def until_idle(window: object) -> None:
    """Until the window's background reads are done (badges, the attention list)."""
    app = QApplication.instance()
    assert app is not None
    deadline = time.perf_counter() + 10
    while (window.runner.busy or window.search_runner.busy) and time.perf_counter() < deadline:  # type: ignore[attr-defined]
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
    app.processEvents()


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child_bare(argv: list[str]) -> None:
    from PySide6.QtWidgets import QApplication as App
    from PySide6.QtWidgets import QMainWindow

    app = App([])
    window = QMainWindow()
    window.resize(1440, 860)
    window.show()

    def ready() -> None:
        print("ready", flush=True)
        if argv[:1] == ["memory"]:
            print(f"peak MB {_peak_mb():.1f}", flush=True)
        app.quit()

    QTimer.singleShot(0, ready)
    app.exec()


def _child_app(mode: str, url: str) -> None:
    from billing_desk.config import STRIPE_KEY_ENTRY, MemorySecrets, RuntimeOptions
    from billing_desk.ui.app import AppController, LaunchOptions, application
    from billing_desk.ui.crash import CrashReporter
    from billing_desk.ui.persist import UiState

    app = application()
    app.setQuitOnLastWindowClosed(False)
    options = RuntimeOptions.resolve(
        db=url, as_user="bench.agent", stripe_base="http://127.0.0.1:9"
    )
    # A key, as on a configured desk: the worker starts (and finds no Stripe here).
    secrets = MemorySecrets({STRIPE_KEY_ENTRY: "sk_test_" + "0" * 24})
    controller = AppController(
        options,
        secrets,
        LaunchOptions(db_explicit=True),
        UiState(),
        CrashReporter(Path(os.environ["XDG_DATA_HOME"]) / "crashes", show_dialog=False),
    )

    def ready(window: object) -> None:
        print("ready", flush=True)
        if mode == "memory":
            _exercise(window)
            print(f"peak MB {_peak_mb():.1f}", flush=True)
        window.close()  # type: ignore[attr-defined]

    controller.window_ready.connect(ready)
    controller.start()
    app.exec()


def _exercise(window: object) -> None:
    from tests.benchmarks.datagen import search_queries

    panel = window.search  # type: ignore[attr-defined]
    n = 1_000_000 if "1000000" in str(window.workspace.engine.url) else 20_000  # type: ignore[attr-defined]
    for q in search_queries(n, per_kind=4)[:20]:
        panel.search(q.text)
        wait_for(panel.results_shown)
    first = panel.model.customer_ids()
    if first:
        window.open_customer(first[0])  # type: ignore[attr-defined]
        wait_for(window.customer.customer_loaded)  # type: ignore[attr-defined]
    until_idle(window)


def _child_main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "bare-window":
        _child_bare(argv[1:])
    elif mode in ("cold-start", "memory"):
        _child_app(mode, argv[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    _child_main(sys.argv[1:])

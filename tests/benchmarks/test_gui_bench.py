"""The desktop app's speed, each figure beside a baseline measured in the same run.

1. Cold start to a usable window (a fresh process until the main window's event loop turns),
   beside a bare PySide6 window started the same way (both by gui_children, which loads nothing
   the app does not), the modules byte-compiled as an installed app's are. Target <= 2 s.
2. Search results on screen after the last keystroke, typed into the window's search field, over
   the search benchmark's store (full: 1,000,000 customers; smoke: 20,000), beside the search
   service alone on the same queries. Target p95 <= 50 ms.
3. A customer with 50 lines and 100,000 increments opened and painted, beside the store read
   alone. Target p95 <= 200 ms.
4. The UI thread's longest stall (a 10 ms heartbeat timer) while the sync worker runs a close-out
   against the sandbox in its own process (full: >= 5,000 Stripe calls), beside the heartbeat of
   an idle window. Target <= 50 ms.
5. Closing the window in the middle of a close-out, until the worker's thread has ended, beside
   closing an idle window. Target <= 5 s.
6. Peak memory of a fresh process with the search store open, searched and a customer shown,
   beside a bare PySide6 window. Target <= 400 MB.

Sizes: BILLING_DESK_BENCH_SIZE=smoke (CI: runs every measurement and prints it; the timing
targets are asserted at full size, where the README's figures come from) or full. The
1,000,000-customer store is the search benchmark's, built once and cached (see
test_search_bench.sqlite_store).

Run: BILLING_DESK_BENCH_SIZE=smoke|full pytest tests/benchmarks/test_gui_bench.py -s
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine

from tests.benchmarks.gui_children import until_idle, wait_for

ROOT = Path(__file__).parents[2]
SEARCH_SIZES = {"smoke": 20_000, "full": 1_000_000}
QUERIES_PER_KIND = {"smoke": 10, "full": 50}
CLOSE_OUT = {"smoke": (30, 4), "full": (1_000, 4)}  # customers, lines each
COLD_RUNS = {"smoke": 1, "full": 5}
OPEN_RUNS = {"smoke": 10, "full": 30}
INCREMENTS = {"smoke": 20_000, "full": 100_000}


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for row in (header, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p95(values: Sequence[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    )


def _child_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "PYTHONPATH": str(ROOT),
    }


def _child(mode: str, *args: str, tmp: Path) -> tuple[float, str]:
    """Run gui_children as a fresh process in `mode`; (seconds until it printed "ready", its
    last line of output)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.gui_children", mode, *args],
        cwd=ROOT,
        env=_child_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = None
    last = ""
    for line in proc.stdout:
        if line.startswith("ready") and ready is None:
            ready = time.perf_counter() - started
        last = line.strip() or last
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert ready is not None, err
    return ready, last


@pytest.fixture(scope="module")
def search_store(request: pytest.FixtureRequest) -> str:
    from tests.benchmarks.datagen import DEFAULT_SEED
    from tests.benchmarks.test_search_bench import sqlite_store

    size = os.environ.get("BILLING_DESK_BENCH_SIZE", "full")
    return f"sqlite:///{sqlite_store(SEARCH_SIZES[size], DEFAULT_SEED)}"


@pytest.fixture
def ui_state(tmp_path: Path) -> object:
    from billing_desk.ui.persist import UiState

    return UiState(QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))


def _main_window(
    engine: Engine,
    ui_state: object,
    tmp: Path,
    key: str | None = None,
    base: str = "http://127.0.0.1:9",
    start_worker: bool = False,
    worker_options: object = None,
) -> object:
    from billing_desk.config import STRIPE_KEY_ENTRY, MemorySecrets
    from billing_desk.ui.crash import CrashReporter
    from billing_desk.ui.main_window import MainWindow
    from billing_desk.ui.sync_worker import WorkerOptions
    from billing_desk.ui.workspace import Workspace

    workspace = Workspace(
        engine,
        str(engine.url),
        "bench.agent",
        base,
        MemorySecrets({STRIPE_KEY_ENTRY: key} if key else {}),
        worker_options=worker_options or WorkerOptions(),  # type: ignore[arg-type]
    )
    window = MainWindow(
        workspace,
        ui_state,
        CrashReporter(tmp / "crashes", show_dialog=False),  # type: ignore[arg-type]
        start_worker=start_worker,
    )
    window.resize(1440, 860)
    window.show()
    return window


def _close(window: object) -> None:
    """Close the window and run the loop until it has (the worker stopped, the store let go)."""
    loop = QEventLoop()
    window.closed.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(0, window.close)  # type: ignore[attr-defined]
    loop.exec()


# 1. Cold start


def test_cold_start_to_a_usable_window(bench_size: str, search_store: str, tmp_path: Path) -> None:
    # Byte-compiled first, as an installed app is (pip compiles a package when it installs it):
    # where PYTHONDONTWRITEBYTECODE is set, each start would otherwise compile ~100 modules.
    for tree in (ROOT / "billing_desk", ROOT / "tests" / "benchmarks"):
        assert compileall.compile_dir(tree, quiet=1)
    runs = COLD_RUNS[bench_size]
    app = [_child("cold-start", search_store, tmp=tmp_path)[0] for _ in range(runs)]
    bare = [_child("bare-window", tmp=tmp_path)[0] for _ in range(runs)]
    best, base = min(app), min(bare)
    _table(
        f"Cold start to a usable window ({runs} runs each, best and median; store "
        f"{SEARCH_SIZES[bench_size]:,} customers)",
        ("window", "best", "median", "target", "ratio to bare Qt"),
        [
            (
                "Billing Desk main window",
                _ms(best),
                _ms(statistics.median(app)),
                "<= 2000 ms",
                f"{best / base:.2f}x",
            ),
            ("bare PySide6 QMainWindow", _ms(base), _ms(statistics.median(bare)), "", "1.00x"),
        ],
    )
    if bench_size == "full":  # timing targets hold at full size; smoke only runs the code
        assert best <= 2.0


# 2. Search as the agent types


def test_search_results_after_the_last_keystroke(
    bench_size: str, search_store: str, ui_state: object, tmp_path: Path, qapp: QApplication
) -> None:
    from billing_desk.services.search import search_customers
    from billing_desk.store.engine import create_store_engine
    from billing_desk.store.uow import UnitOfWork
    from billing_desk.ui.views.search_panel import DEBOUNCE_MS
    from tests.benchmarks.datagen import search_queries

    n = SEARCH_SIZES[bench_size]
    queries = search_queries(n, per_kind=QUERIES_PER_KIND[bench_size])
    engine = create_store_engine(search_store)
    window = _main_window(engine, ui_state, tmp_path)
    panel = window.search  # type: ignore[attr-defined]
    try:
        until_idle(window)
        # Warm up as a running desk is: one untimed pass.
        for q in queries[:20]:
            panel.search(q.text)
            wait_for(panel.results_shown)
        screen: list[float] = []
        service: list[float] = []
        for q in queries:
            panel.field.clear()
            until_idle(window)
            panel.field.setFocus()
            QTest.keyClicks(panel.field, q.text)
            typed = time.perf_counter()
            while True:
                args = wait_for(panel.results_shown)
                if args and args[0] == q.text.strip():
                    break
            panel.results.viewport().repaint()  # painted, not only queued
            screen.append(time.perf_counter() - typed)
            started = time.perf_counter()
            with UnitOfWork(engine) as uow:
                search_customers(uow, q.text, 25)
            service.append(time.perf_counter() - started)
        until_idle(window)
    finally:
        _close(window)
    _table(
        f"Search results on screen after the last keystroke ({len(queries)} queries, "
        f"{n:,} customers; includes the {DEBOUNCE_MS} ms debounce)",
        ("measure", "p50", "p95", "max", "target p95", "ratio to service p95"),
        [
            (
                "typed into the window",
                _ms(statistics.median(screen)),
                _ms(_p95(screen)),
                _ms(max(screen)),
                "<= 50 ms",
                f"{_p95(screen) / _p95(service):.2f}x",
            ),
            (
                "search service alone",
                _ms(statistics.median(service)),
                _ms(_p95(service)),
                _ms(max(service)),
                "",
                "1.00x",
            ),
        ],
    )
    if bench_size == "full":  # timing targets hold at full size; smoke only runs the code
        assert _p95(screen) <= 0.050


# 3. Opening a big customer


@pytest.fixture(scope="module")
def big_customer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from billing_desk.store.migrate import open_store
    from tests.gui import seed

    size = os.environ.get("BILLING_DESK_BENCH_SIZE", "full")
    total = INCREMENTS[size]
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('big') / 'big.sqlite3'}")
    seed.add_customers(engine, [seed.customer(1, "Big Usage Co"), seed.customer(2, "Other Co")])
    per_line = total // 50
    for k in range(50):
        seed.add_usage(
            engine,
            "c-0001",
            f"item.{k:02d}",
            [1 + (h % 9) for h in range(per_line)],
            unit_amount="0.5",
        )
    seed.add_usage(engine, "c-0002", "api.calls", [5], unit_amount="2")
    yield engine
    engine.dispose()


def test_open_a_customer_with_50_lines_and_100k_increments(
    bench_size: str, big_customer: Engine, ui_state: object, tmp_path: Path, qapp: QApplication
) -> None:
    from billing_desk.ui.adapters import load_customer

    window = _main_window(big_customer, ui_state, tmp_path)
    page = window.customer  # type: ignore[attr-defined]
    opened: list[float] = []
    read: list[float] = []
    try:
        until_idle(window)
        for run in range(OPEN_RUNS[bench_size] + 1):
            other = "c-0002"
            page.open_customer(other)
            wait_for(page.customer_loaded)
            until_idle(window)
            started = time.perf_counter()
            page.open_customer("c-0001")
            wait_for(page.customer_loaded)
            page.side_by_side.table.viewport().repaint()
            page.header.repaint()
            if run:  # the first is a warm-up
                opened.append(time.perf_counter() - started)
            started = time.perf_counter()
            snapshot = load_customer(big_customer, "c-0001", None)
            read.append(time.perf_counter() - started)
            assert len(snapshot.view.rows) == 50
        until_idle(window)
    finally:
        _close(window)
    _table(
        f"Customer with 50 lines and {INCREMENTS[bench_size]:,} increments: opened and painted "
        f"({len(opened)} runs)",
        ("measure", "p50", "p95", "max", "target p95", "ratio to store read p95"),
        [
            (
                "open + paint in the window",
                _ms(statistics.median(opened)),
                _ms(_p95(opened)),
                _ms(max(opened)),
                "<= 200 ms",
                f"{_p95(opened) / _p95(read):.2f}x",
            ),
            (
                "store read alone",
                _ms(statistics.median(read)),
                _ms(_p95(read)),
                _ms(max(read)),
                "",
                "1.00x",
            ),
        ],
    )
    if bench_size == "full":  # timing targets hold at full size; smoke only runs the code
        assert _p95(opened) <= 0.200


# 4. The UI thread during a close-out


class _Heartbeat:
    """A 10 ms timer on the UI thread; a stall is how late a tick comes beyond its interval."""

    INTERVAL_MS = 10

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(max(0.0, now - self._last - self.INTERVAL_MS / 1000))
        self._last = now

    def row(self, what: str, target: str, base: float | None) -> tuple[object, ...]:
        worst = max(self.gaps)
        p99 = statistics.quantiles(self.gaps, n=100, method="inclusive")[-1]
        # An idle window is hardly ever late at all: compare with at least 1 ms.
        ratio = f"{worst / max(base, 0.001):.1f}x" if base is not None else "1.0x"
        return (what, len(self.gaps), _ms(p99), _ms(worst), target, ratio)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[str]:
    """The sandbox in its own process, so its CPU is not the app's."""
    proc = subprocess.Popen(
        [sys.executable, "main.py", "sandbox", "--port", "0"],
        cwd=ROOT,
        env=_child_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    try:
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _closed_store(path: Path, name: str, customers: int, lines: int) -> Engine:
    """A store whose period is closed: every customer's draft is waiting to be made."""
    from billing_desk.services.close import close_period
    from billing_desk.store.migrate import open_store
    from billing_desk.store.uow import UnitOfWork
    from tests.gui import seed

    engine = open_store(f"sqlite:///{path}")
    seed.add_customers(engine, [seed.customer(i, f"{name} {i}") for i in range(customers)])
    seed.ingest_rows(engine, _close_out_usage(customers, lines))
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, seed.PERIOD, datetime.now(UTC), timedelta(days=1))
    return engine


def test_ui_thread_never_stalls_during_a_close_out(
    bench_size: str, sandbox_process: str, ui_state: object, tmp_path: Path, qapp: QApplication
) -> None:
    from billing_desk.sandbox import SandboxAdmin, new_test_key
    from billing_desk.sync.context import EngineConfig
    from billing_desk.ui.sync_worker import WorkerOptions

    customers, lines = CLOSE_OUT[bench_size]
    engine = _closed_store(tmp_path / "closeout.sqlite3", "Close Co", customers, lines)
    key = new_test_key()
    admin = SandboxAdmin(sandbox_process, key)

    idle = _Heartbeat()
    window = _main_window(engine, ui_state, tmp_path)
    until_idle(window)
    idle.start()
    _spin(3.0)
    idle.stop()
    _close(window)

    beat = _Heartbeat()
    # Stripe's budget for a live key (80 requests/s): the pace a real close-out runs at.
    options = WorkerOptions(engine=EngineConfig(rate_limit=80.0), events_every_s=3600)
    window = _main_window(engine, ui_state, tmp_path, key, sandbox_process, True, options)
    started = time.perf_counter()
    done = {"total": 0, "done": 0}

    def progress(d: int, total: int) -> None:
        # The close-out is under way from the first progress: the worker has started and
        # loaded the engine (a one-time cost of the app's start, not of syncing).
        if not done["total"]:
            beat.start()
        done["done"], done["total"] = d, max(done["total"], total)

    window.sync_progress.connect(progress)  # type: ignore[attr-defined]
    expected = customers * lines + 2 * customers  # pushes, customers and invoices created
    deadline = started + 600
    # The sandbox's call count is asked for (over HTTP) on a thread of the benchmark's own: on
    # the UI thread that request would be a stall of the harness, not of the app.
    with _CallCounter(admin) as counter:
        while time.perf_counter() < deadline:
            _spin(0.5)
            if counter.calls >= expected and done["done"] >= done["total"] > 0:
                break
    elapsed = time.perf_counter() - started
    beat.stop()
    _close(window)
    calls = sum(admin.counts().values())
    _table(
        f"UI thread heartbeat (10 ms timer) during a close-out: {calls:,} Stripe calls in "
        f"{elapsed:.1f} s ({customers:,} customers x {lines} lines)",
        ("window", "ticks", "p99 late", "worst late", "target", "ratio to idle worst"),
        [
            beat.row("syncing (close-out)", "<= 50 ms", max(idle.gaps)),
            idle.row("idle", "", None),
        ],
    )
    assert calls >= expected
    if bench_size == "full":  # timing targets hold at full size; smoke only runs the code
        assert max(beat.gaps) <= 0.050
    engine.dispose()


def test_closing_mid_sync_stops_the_worker_within_5_s(
    bench_size: str, sandbox_process: str, ui_state: object, tmp_path: Path, qapp: QApplication
) -> None:
    from billing_desk.sandbox import SandboxAdmin, new_test_key
    from billing_desk.sync.context import EngineConfig
    from billing_desk.ui.sync_worker import WorkerOptions

    customers, lines = CLOSE_OUT[bench_size]
    engine = _closed_store(tmp_path / "stop.sqlite3", "Stop Co", customers, lines)
    key = new_test_key()
    SandboxAdmin(sandbox_process, key).configure(latency_ms=120)  # requests are in flight
    options = WorkerOptions(engine=EngineConfig(rate_limit=80.0), events_every_s=3600)

    def close_timed(window: object) -> float:
        started = time.perf_counter()
        _close(window)
        return time.perf_counter() - started

    idle_window = _main_window(engine, ui_state, tmp_path)
    until_idle(idle_window)
    idle = close_timed(idle_window)
    stops = []
    for _ in range(3):
        window = _main_window(engine, ui_state, tmp_path, key, sandbox_process, True, options)
        progress: list[int] = []
        window.sync_progress.connect(partial(_record, progress))  # type: ignore[attr-defined]
        deadline = time.perf_counter() + 60
        while (not progress or progress[-1] < 10) and time.perf_counter() < deadline:
            _spin(0.05)
        assert progress, "the worker never started pushing"
        stops.append(close_timed(window))
        assert not window.sync_thread.running  # type: ignore[attr-defined]
    engine.dispose()
    _table(
        "Closing the window in the middle of a close-out (3 times; 120 ms Stripe latency)",
        ("window", "worst", "median", "target", "ratio to an idle window"),
        [
            (
                "mid-sync",
                _ms(max(stops)),
                _ms(statistics.median(stops)),
                "<= 5000 ms",
                f"{max(stops) / idle:.1f}x",
            ),
            ("idle (no worker)", _ms(idle), _ms(idle), "", "1.0x"),
        ],
    )
    assert max(stops) <= 5.0


def _close_out_usage(customers: int, lines: int) -> list[dict[str, object]]:
    from tests.gui import seed

    return [
        row
        for i in range(customers)
        for k in range(lines)
        for row in seed.usage_rows(f"c-{i:04d}", f"item.{k}", [1 + k], unit_amount="100")
    ]


def _record(into: list[int], done: int, _total: int) -> None:
    into.append(done)


def _spin(seconds: float) -> None:
    """Run the event loop for `seconds` the way the app's own loop runs: asleep until an event
    comes (a loop of processEvents calls would keep the UI thread busy wanting the GIL)."""
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


class _CallCounter:
    """The sandbox's count of Stripe calls, asked for every `every_s` on a thread of its own."""

    def __init__(self, admin: object, every_s: float = 0.5) -> None:
        self.calls = 0
        self._admin = admin
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-call-counter")

    def __enter__(self) -> _CallCounter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.calls = sum(self._admin.counts().values())  # type: ignore[attr-defined]
            self._stop.wait(self._every_s)


# 5. Memory


def test_memory_with_the_big_store_open(bench_size: str, search_store: str, tmp_path: Path) -> None:
    _, app_line = _child("memory", search_store, tmp=tmp_path)
    _, bare_line = _child("bare-window", "memory", tmp=tmp_path)
    app_mb, bare_mb = float(app_line.split()[-1]), float(bare_line.split()[-1])
    _table(
        f"Peak memory (VmHWM) of a fresh process: the {SEARCH_SIZES[bench_size]:,}-customer store "
        "open, 20 searches, a customer shown",
        ("process", "peak", "target", "ratio to bare Qt"),
        [
            ("Billing Desk", f"{app_mb:.0f} MB", "<= 400 MB", f"{app_mb / bare_mb:.2f}x"),
            ("bare PySide6 QMainWindow", f"{bare_mb:.0f} MB", "", "1.00x"),
        ],
    )
    assert app_mb <= 400

"""Ingest benchmark: increments/s end to end (parse, validate, dedupe, compile, commit) beside a
bare `executemany` of the same rows, and peak memory at two input sizes.

BILLING_DESK_BENCH_SIZE=smoke (default; CI) or full. PostgreSQL runs too when
BILLING_DESK_TEST_PG names a server. Reproduce the README figures with:

    export BILLING_DESK_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:5432/test
    BILLING_DESK_BENCH_SIZE=full .venv/bin/python -m pytest tests/benchmarks/test_ingest_bench.py \\
        -s -p no:randomly --override-ini="addopts=-p no:cacheprovider"

Targets (issue 2): SQLite >= 100,000 increments/s and >= 25% of the bare executemany rate;
PostgreSQL >= 50,000 increments/s; peak memory flat in file size. The table prints each figure
beside its target; timings are not asserted (a loaded machine is not a failing program), the
memory flatness and the row counts are.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from billing_desk.services.customers import import_customers
from billing_desk.services.ingest import LINE_FLUSH, Source, ingest
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.uow import UnitOfWork
from tests.benchmarks import datagen

SIZES = {
    # customers, increments, (memory probe sizes)
    "smoke": (10_000, 200_000, (50_000, 200_000)),
    "full": (100_000, 1_000_000, (250_000, 1_000_000)),
}
SIZE = os.environ.get("BILLING_DESK_BENCH_SIZE", "smoke")
SQLITE_TARGET = 100_000
RATIO_TARGET = 0.25
PG_TARGET = 50_000
# Peak memory may grow this much from the small input to the large one and still be "flat"
# (allocator noise); a file-sized buffer would grow it 4-fold.
FLAT = 1.5
# The line deltas held between flushes grow with the number of distinct lines until they reach
# their bound (LINE_FLUSH). The probes use a small bound so that it is reached at both sizes and
# what is compared is everything else; the table says so.
PROBE_LINE_FLUSH = 2_000


@dataclass
class Row:
    backend: str
    what: str
    rows_per_s: float
    # Rows per second of this process's CPU time (all threads): what the figure would be on an
    # otherwise idle machine with one core, so a busy machine's figures can be read.
    cpu_rows_per_s: float | None = None
    note: str = ""


class _Clock:
    """Wall and CPU time of a block."""

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    customers, increments, _ = SIZES[SIZE]
    out = tmp_path_factory.mktemp("bench-data")
    return datagen.write_files(out, customers, increments)


def _load_customers(url: str, customers: Path) -> None:
    engine = create_store_engine(url)
    try:
        upgrade(engine)
        with UnitOfWork(engine, write=True) as uow, customers.open("rb") as f:
            summary = import_customers(uow, [Source(customers.name, f)])
        assert summary.rejected == 0
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_template(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the customers imported, copied afresh for each measured run."""
    path = tmp_path_factory.mktemp("bench-store") / "template.sqlite3"
    _load_customers(f"sqlite:///{path}", data[0])
    return path


def _fresh_copy(template: Path, name: str) -> Path:
    target = template.with_name(name)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


def _ingest_rate(url: str, increments: Path) -> tuple[_Clock, int, int]:
    """(timing, accepted, lines) of one ingest call, timed from open to commit."""
    engine = create_store_engine(url)
    try:
        with _Clock() as clock, UnitOfWork(engine, write=True) as uow, increments.open("rb") as f:
            summary = ingest(uow, [Source(increments.name, f)], actor="bench")
        with engine.connect() as conn:
            lines = conn.exec_driver_sql("SELECT count(*) FROM lines").scalar_one()
    finally:
        engine.dispose()
    return clock, summary.accepted, int(lines)


def _rows(increments: Path) -> list[tuple[Any, ...]]:
    """The same rows, parsed beforehand: what a bare insert gets for free."""
    rows = []
    with increments.open() as f:
        for line in f:
            r = json.loads(line)
            rows.append(
                (
                    r["event_id"],
                    r["customer"],
                    r["item"],
                    r["description"],
                    r["quantity"],
                    r["unit_amount"],
                    r["currency"],
                    r["occurred_at"],
                    1,
                )
            )
    return rows


def _sqlite_baseline(store: Path, rows: list[tuple[Any, ...]]) -> _Clock:
    """executemany into a table shaped like `increments` (same key, index, WAL, FULL sync)."""
    conn = sqlite3.connect(store, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE bare_increments (event_id VARCHAR(255) PRIMARY KEY, customer_id, item, "
            "description, quantity, unit_amount, currency, occurred_at, batch_id) WITHOUT ROWID"
        )
        conn.execute("CREATE INDEX ix_bare ON bare_increments (customer_id)")
        with _Clock() as clock:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO bare_increments VALUES (?,?,?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
        return clock
    finally:
        conn.close()


def _pg_baseline(url: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY into a table shaped like `increments`: PostgreSQL's fastest bare load."""
    engine = create_store_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(
                "CREATE TABLE bare_increments (event_id varchar(255) PRIMARY KEY, "
                "customer_id varchar(255), item varchar(128), description varchar(500), "
                "quantity numeric(38, 12), unit_amount numeric(38, 12), currency varchar(3), "
                "occurred_at timestamptz, batch_id integer)"
            )
            cur.execute("CREATE INDEX ix_bare ON bare_increments (customer_id)")
            raw.commit()
            started = time.perf_counter()
            with cur.copy("COPY bare_increments FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
            return len(rows) / (time.perf_counter() - started)
        finally:
            raw.close()
    finally:
        engine.dispose()


def _probe(store: Path, increments: Path) -> dict[str, float]:
    """Peak memory of one ingest in a fresh interpreter (this file run as a script)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.test_ingest_bench",
            str(store),
            str(increments),
            str(PROBE_LINE_FLUSH),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _prefix(increments: Path, count: int) -> Path:
    target = increments.with_name(f"first-{count}.jsonl")
    with increments.open("rb") as src, target.open("wb") as dst:
        for n, line in enumerate(src):
            if n >= count:
                break
            dst.write(line)
    return target


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if not os.environ.get("BILLING_DESK_TEST_PG"):
        yield None
        return
    from tests.conftest import reset_pg_schema

    url: str = request.getfixturevalue("pg_server_url")
    reset_pg_schema(url)
    yield url


def test_ingest_throughput_and_memory(
    data: tuple[Path, Path], sqlite_template: Path, pg_url: str | None
) -> None:
    customers_file, increments = data
    n_customers, n_increments, (small, large) = SIZES[SIZE]
    table: list[Row] = []

    store = _fresh_copy(sqlite_template, "ingest.sqlite3")
    ours, accepted, lines = _ingest_rate(f"sqlite:///{store}", increments)
    assert accepted == n_increments
    rows = _rows(increments)
    bare = _sqlite_baseline(_fresh_copy(sqlite_template, "bare.sqlite3"), rows)
    rate, bare_rate = accepted / ours.wall, len(rows) / bare.wall
    ratio = rate / bare_rate
    note = f"target >= {SQLITE_TARGET:,}/s: {_ok(rate >= SQLITE_TARGET)}"
    table.append(Row("sqlite", "billing-desk ingest", rate, accepted / ours.cpu, note))
    note = "baseline, same rows pre-parsed"
    table.append(Row("sqlite", "bare executemany", bare_rate, len(rows) / bare.cpu, note))
    note = f"target >= {RATIO_TARGET:.0%}: {_ok(ratio >= RATIO_TARGET)}"
    table.append(Row("sqlite", "ratio", ratio, bare.cpu / ours.cpu, note))

    if pg_url is not None:
        _load_customers(pg_url, customers_file)
        pg, pg_accepted, _ = _ingest_rate(pg_url, increments)
        assert pg_accepted == n_increments
        pg_rate = pg_accepted / pg.wall
        copy = _pg_baseline(pg_url, rows)
        note = f"target >= {PG_TARGET:,}/s: {_ok(pg_rate >= PG_TARGET)}"
        table.append(Row("postgresql", "billing-desk ingest", pg_rate, None, note))
        table.append(Row("postgresql", "bare COPY", copy, None, "baseline, same rows pre-parsed"))
        table.append(Row("postgresql", "ratio", pg_rate / copy, None, "informational"))
    del rows

    memory = {
        size: _probe(
            _fresh_copy(sqlite_template, f"probe-{size}.sqlite3"), _prefix(increments, size)
        )
        for size in (small, large)
    }
    growth = memory[large]["traced_peak_mib"] / memory[small]["traced_peak_mib"]

    print()
    print(
        f"ingest benchmark, size={SIZE}: {n_increments:,} increments of {n_customers:,} "
        f"customers' hourly usage, compiled into {lines:,} lines"
    )
    print(
        f"| {'backend':<10} | {'measured':<20} | {'rows/s or ratio':>15} | {'cpu-bound':>10} | note"
    )
    print(f"|{'-' * 12}|{'-' * 22}|{'-' * 17}|{'-' * 12}|{'-' * 40}")
    for row in table:
        number = "{:.2f}" if row.what == "ratio" else "{:,.0f}"
        shown = number.format(row.rows_per_s)
        cpu = "" if row.cpu_rows_per_s is None else number.format(row.cpu_rows_per_s)
        print(f"| {row.backend:<10} | {row.what:<20} | {shown:>15} | {cpu:>10} | {row.note}")
    print(
        "(cpu-bound: rows per second of this process's CPU time, the rate on an idle machine; "
        "PostgreSQL's work is in its server, so only wall time is shown)"
    )
    for size in (small, large):
        m = memory[size]
        print(
            f"peak memory ingesting {size:>9,} increments (SQLite): "
            f"{m['traced_peak_mib']:6.1f} MiB Python heap, {m['max_rss_mib']:6.1f} MiB RSS"
        )
    print(
        f"memory growth for {large // small}x the input: {growth:.2f}x (flat if <= {FLAT}); "
        f"probes hold at most {PROBE_LINE_FLUSH:,} line deltas (the default bound is "
        f"{LINE_FLUSH:,}, about {LINE_FLUSH * 650 // 2**20} MiB more)"
    )
    assert growth <= FLAT


def _ok(met: bool) -> str:
    return "met" if met else "NOT met"


def _probe_main(store: str, increments: str, line_flush: int) -> None:
    """Ingest one file with tracemalloc on; print the peaks as JSON."""
    tracemalloc.start()
    engine = create_store_engine(f"sqlite:///{store}")
    with UnitOfWork(engine, write=True) as uow, open(increments, "rb") as f:
        ingest(uow, [Source(Path(increments).name, f)], actor="bench", line_flush=line_flush)
    engine.dispose()
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"traced_peak_mib": peak / 2**20, "max_rss_mib": _peak_rss_kib() / 1024}))


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    _probe_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

"""Customer search as the agent types, beside a plain LIKE '%q%' scan measured in the same run.

N customers from the generator (full: 1,000,000; smoke: 20,000) and its published mixed query
set (full: 50 queries of each kind, smoke: 25: name prefixes, first name plus last-name prefix,
exact emails, partial emails, Stripe ids, customer ids). Each query is one `search_customers`
call in its own unit of work, as the GUI makes one per debounced keystroke (limit 20). The
baseline, `id/name/email/stripe_customer_id LIKE '%q%'` (ILIKE on PostgreSQL), LIMIT 20, no
ranking, runs on every query at smoke size and on every fifth at full size (a table scan each).
Targets at full size: p95 <= 20 ms on SQLite and <= 30 ms on PostgreSQL, and >= 10x the
baseline's p95. The table also counts statements whose plan scans a table (target: 0).

The store is built once per (size, seed, schema) and reused, its build time not measured:
SQLite under the user cache dir (or BILLING_DESK_BENCH_CACHE), PostgreSQL as database
bd_bench_search_<size>_<seed> on the server named by BILLING_DESK_TEST_PG.

Run: BILLING_DESK_BENCH_SIZE=smoke|full pytest tests/benchmarks/test_search_bench.py -s
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from billing_desk.services.search import CustomerHit, search_customers
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import SchemaState, head_revision, schema_state, upgrade
from billing_desk.store.types import utc_text
from billing_desk.store.uow import UnitOfWork
from tests.benchmarks.datagen import DEFAULT_SEED, SEARCH_KINDS, SearchQuery, customers
from tests.benchmarks.datagen import search_queries as published_queries
from tests.conftest import PG_ENV
from tests.integration.test_search import reason_holds
from tests.integration.test_search_plans import (
    captured_statements,
    pg_full_scans,
    sqlite_full_scans,
)

SIZES = {"smoke": 20_000, "full": 1_000_000}
PER_KIND = {"smoke": 25, "full": 50}
TARGET_P95_MS = {"sqlite": 20.0, "postgresql": 30.0}
TARGET_RATIO = 10.0
LIMIT = 20
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = "id, name, email, currency, stripe_customer_id, balance, flags, created_at, updated_at"
HEADER = (
    "queries",
    "n",
    "p50",
    "p95",
    "max",
    "LIKE n",
    "LIKE p50",
    "LIKE p95",
    "LIKE max",
    "ratio",
)
LIKE_SQL = {
    "sqlite": "SELECT id, name, email, stripe_customer_id FROM customers WHERE id LIKE :p "
    "ESCAPE '\\' OR name LIKE :p ESCAPE '\\' OR email LIKE :p ESCAPE '\\' "
    "OR stripe_customer_id LIKE :p ESCAPE '\\' LIMIT 20",
    "postgresql": "SELECT id, name, email, stripe_customer_id FROM customers WHERE id ILIKE :p "
    "OR name ILIKE :p OR email ILIKE :p OR stripe_customer_id ILIKE :p LIMIT 20",
}


def cache_dir() -> Path:
    configured = os.environ.get("BILLING_DESK_BENCH_CACHE")
    path = Path(configured) if configured else Path(platformdirs.user_cache_dir("billing-desk"))
    path = path / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sqlite_store(n: int, seed: int) -> Path:
    """A migrated SQLite store holding the generator's first n customers, built once."""
    path = cache_dir() / f"search-{n}-{seed}-{head_revision()}.sqlite3"
    if path.exists():
        return path
    building = path.with_suffix(".building")
    for stale in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        stale.unlink(missing_ok=True)
    engine = create_store_engine(f"sqlite:///{building}")
    upgrade(engine)
    engine.dispose()
    started = time.perf_counter()
    stamp = utc_text(CREATED)
    rows = (
        (
            c["id"],
            c["name"],
            c["email"],
            c["currency"],
            c["stripe_customer_id"],
            0,
            "{}",
            stamp,
            stamp,
        )
        for c in customers(n, seed)
    )
    db = sqlite3.connect(building, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO customers ({COLUMNS}) VALUES ({', '.join('?' * 9)})", rows)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    building.rename(path)  # only a complete store is ever found under its final name
    print(f"\n(built {path.name} in {time.perf_counter() - started:.0f} s)")
    return path


def pg_store(server: str, n: int, seed: int) -> str:
    """A migrated database holding the generator's first n customers, reused when present."""
    name = f"bd_bench_search_{n}_{seed}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = create_store_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists and _pg_store_ready(url, n):
                return url
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    engine = create_store_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY customers ({COLUMNS}) FROM STDIN") as copy:
                for c in customers(n, seed):
                    stripe_id = c["stripe_customer_id"]
                    fields = (c["id"], c["name"], c["email"], c["currency"], stripe_id)
                    copy.write_row((*fields, 0, "{}", CREATED, CREATED))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE customers")
            conn.exec_driver_sql("VACUUM ANALYZE customer_search_words")
        print(f"\n(built {name} in {time.perf_counter() - started:.0f} s)")
    finally:
        engine.dispose()
    return url


def _pg_store_ready(url: str, n: int) -> bool:
    engine = create_store_engine(url)
    try:
        if schema_state(engine) is not SchemaState.CURRENT:
            return False
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM customers")).scalar() == n
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def store(request: pytest.FixtureRequest, bench_size: str) -> Iterator[Engine]:
    n = SIZES[bench_size]
    if request.param == "sqlite":
        url = f"sqlite:///{sqlite_store(n, DEFAULT_SEED)}"
    else:
        server = os.environ.get(PG_ENV)
        if not server:
            pytest.skip(f"the PostgreSQL figures need {PG_ENV}")
        url = pg_store(server, n, DEFAULT_SEED)
    engine = create_store_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def timed_ms(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def search(engine: Engine, query: str) -> list[CustomerHit]:
    with UnitOfWork(engine) as uow:
        return search_customers(uow, query, LIMIT)


def like_scan(engine: Engine, query: str) -> list[Any]:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with UnitOfWork(engine) as uow:
        statement = text(LIKE_SQL[engine.dialect.name])
        return list(uow.session.execute(statement, {"p": f"%{escaped}%"}))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def figures(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    return tuple(  # type: ignore[return-value]
        f"{v:.2f}" for v in (statistics.median(values), percentile(values, 0.95), max(values))
    )


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def count_full_scans(engine: Engine, queries: list[SearchQuery]) -> tuple[int, int]:
    """(statements explained, statements whose plan scans a table) over the query set, as the
    planner would run them at this size."""
    explained = scanning = 0
    for query in queries:
        for statement, parameters in captured_statements(engine, query.text):
            with engine.connect() as conn, conn.begin():
                if engine.dialect.name == "postgresql":
                    bad = pg_full_scans(conn, statement, parameters, price_out_seqscan=False)
                else:
                    bad = sqlite_full_scans(conn, statement, parameters)
            explained += 1
            scanning += bool(bad)
    return explained, scanning


def test_search_latency_against_like_scan(store: Engine, bench_size: str) -> None:
    n = SIZES[bench_size]
    backend = store.dialect.name
    queries = published_queries(n, DEFAULT_SEED, PER_KIND[bench_size])
    baseline_every = 1 if bench_size == "smoke" else 5

    # Warm the caches as a running desk has them: one untimed pass of the set, one table scan.
    for query in queries:
        search(store, query.text)
    like_scan(store, queries[0].text)

    ours: dict[str, list[float]] = {kind: [] for kind in SEARCH_KINDS}
    theirs: dict[str, list[float]] = {kind: [] for kind in SEARCH_KINDS}
    for position, query in enumerate(queries):
        elapsed, hits = timed_ms(partial(search, store, query.text))
        ours[query.kind].append(elapsed)
        # Right answers, not just fast ones: exact hits first, every hit for a stated reason.
        if query.expect is not None:
            assert [hit.id for hit in hits[:1]] == [query.expect], query
        assert all(reason_holds(hit, query.text) for hit in hits), query
        if query.kind == "name_prefix":
            assert len(hits) == LIMIT, query
        if position % baseline_every == 0:
            elapsed, _ = timed_ms(partial(like_scan, store, query.text))
            theirs[query.kind].append(elapsed)

    explained, scanning = count_full_scans(store, queries[:: max(1, len(queries) // 60)])

    rows = []
    everything_ours = [v for values in ours.values() for v in values]
    everything_theirs = [v for values in theirs.values() for v in values]
    for kind, mine, like in [
        *((kind, ours[kind], theirs[kind]) for kind in SEARCH_KINDS),
        ("all", everything_ours, everything_theirs),
    ]:
        ratio = percentile(like, 0.95) / percentile(mine, 0.95) if like else float("nan")
        rows.append((kind, len(mine), *figures(mine), len(like), *figures(like), f"{ratio:.0f}x"))
    p95 = percentile(everything_ours, 0.95)
    ratio = percentile(everything_theirs, 0.95) / p95
    print_table(
        f"Customer search, {backend}, {n:,} customers, limit {LIMIT} (ms)",
        HEADER,
        rows,
    )
    target = TARGET_P95_MS[backend]
    if bench_size != "full":
        verdict = "targets apply at full size"
    elif p95 <= target and ratio >= TARGET_RATIO and not scanning:
        verdict = "targets met"
    else:
        verdict = "targets NOT met"
    print(
        f"  p95 {p95:.2f} ms (target {target:.0f} ms), {ratio:.0f}x the LIKE scan (target "
        f"{TARGET_RATIO:.0f}x); {scanning} of {explained} statements explained scan a table "
        f"(target 0): {verdict}"
    )

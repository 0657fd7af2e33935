"""Every statement a search runs is answered from an index: no query shape scans a table.

The statements are captured as `search_customers` sends them and explained on the same backend
with the same parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event

from billing_desk.services.search import search_customers
from billing_desk.store.uow import UnitOfWork
from tests.integration.test_search import PEOPLE, add_customers

# One query per shape (every statement holds every tier).
SHAPES = {
    "customer id": "c0000001",
    "exact email": "sarah.smith123@example.com",
    "stripe id": "cus_Q1w2E3r4T5",
    "partial email": "sarah.smi",
    "email domain": "@example.io",
    "name prefix": "sm",
    "several words": "sarah smi",
    "several words, no match": "zz qq xx",
    "one letter": "q",
}
SEARCH_TABLES = {"customers", "customer_search_words"}


def captured_statements(engine: Engine, query: str) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with UnitOfWork(engine) as uow:
            search_customers(uow, query)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def sqlite_full_scans(conn: Connection, statement: str, parameters: Any) -> list[str]:
    plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    bad = []
    for row in plan:
        detail: str = row[3]
        if not detail.startswith("SCAN "):
            continue
        # Allowed: reading a subquery's own rows, and FTS5 answering a MATCH (":M" in its plan).
        if re.match(r"SCAN anon_\d+$", detail) or re.match(
            r"SCAN customer_search_names VIRTUAL TABLE INDEX \d+:M", detail
        ):
            continue
        bad.append(detail)
    return bad


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def pg_full_scans(
    conn: Connection, statement: str, parameters: Any, *, price_out_seqscan: bool = True
) -> list[str]:
    # The test tables hold a handful of rows, where a sequential scan is always cheapest; with
    # it priced out, the planner shows whether an index can answer the statement at all. At
    # benchmark size the planner's own choice is what counts.
    if price_out_seqscan:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    (raw,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).one()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    bad = []
    for node in _nodes(plan[0]["Plan"]):
        relation = node.get("Relation Name")
        kind = node["Node Type"]
        if relation not in SEARCH_TABLES:
            continue
        if kind == "Seq Scan":
            bad.append(f"{kind} on {relation}")
        # An index walked end to end with a filter is a full scan too.
        if kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            bad.append(f"{kind} on {relation} without an index condition")
    return bad


def test_no_query_shape_scans_a_table(engine: Engine) -> None:
    add_customers(engine, PEOPLE)
    explain = pg_full_scans if engine.dialect.name == "postgresql" else sqlite_full_scans
    checked = 0
    for shape, query in SHAPES.items():
        statements = captured_statements(engine, query)
        assert statements, shape
        for statement, parameters in statements:
            with engine.connect() as conn, conn.begin():
                assert explain(conn, statement, parameters) == [], (shape, statement)
            checked += 1
    # The search statement for each shape, and PostgreSQL's word counts for several words.
    assert checked >= len(SHAPES)

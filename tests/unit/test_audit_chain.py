"""The audit chain catches edited, deleted and reordered rows; CSV cells never run as formulas."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainedRow,
    canonical_json,
    row_hash,
    safe_cell,
    verify_chain,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chain(n: int) -> list[ChainedRow]:
    rows, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        entry = AuditEntry(
            T0 + timedelta(seconds=i),
            f"user{i % 3}",
            "correction.applied",
            f"correction:{i}",
            canonical_json({"status": "approved"}),
            canonical_json({"status": "applied"}),
            None,
        )
        h = row_hash(i, entry, prev)
        rows.append(ChainedRow(i, entry, prev, h))
        prev = h
    return rows


def test_intact_chain_verifies_and_reports_its_head() -> None:
    rows = chain(5)
    report = verify_chain(rows)
    assert report.ok
    assert (report.rows, report.head_seq, report.head_hash) == (5, 5, rows[-1].hash)


def test_empty_chain_is_intact() -> None:
    assert verify_chain([]).ok


def test_edited_row_is_caught_where_it_is() -> None:
    rows = chain(5)
    entry = dataclasses.replace(rows[2].entry, after=canonical_json({"status": "rejected"}))
    rows[2] = dataclasses.replace(rows[2], entry=entry)
    report = verify_chain(rows)
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "edited")]


def test_deleted_row_is_caught() -> None:
    rows = chain(5)
    del rows[1]
    report = verify_chain(rows)
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "deleted")]
    assert "seq 2 missing" in str(report.problems[0])


def test_reordered_rows_are_caught() -> None:
    rows = chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    kinds = {p.kind for p in verify_chain(rows).problems}
    assert "reordered" in kinds or "deleted" in kinds
    assert not verify_chain(rows).ok


def test_a_row_rehashed_after_an_edit_breaks_the_link_of_the_next() -> None:
    rows = chain(4)
    entry = dataclasses.replace(rows[1].entry, actor="mallory")
    rows[1] = dataclasses.replace(rows[1], entry=entry, hash=row_hash(2, entry, rows[1].prev_hash))
    report = verify_chain(rows)
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "relinked")]


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_edit_is_caught(n: int, data: st.DataObject) -> None:
    rows = chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "subject", "before", "after", "reason"]))
    value = data.draw(st.text(min_size=1, max_size=8))
    if getattr(rows[i].entry, field) == value:
        return
    rows[i] = dataclasses.replace(
        rows[i], entry=dataclasses.replace(rows[i].entry, **{field: value})
    )
    assert not verify_chain(rows).ok


def test_canonical_json_refuses_floats_and_sorts_keys() -> None:
    assert canonical_json({"b": 1, "a": [2]}) == '{"a":[2],"b":1}'
    with pytest.raises(TypeError):
        canonical_json(1.5)
    with pytest.raises(TypeError):
        canonical_json({"amount": 1.5})


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_safe_cell(raw: str, shown: str) -> None:
    assert safe_cell(raw) == shown

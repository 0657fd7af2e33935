"""The corrections, staff and audit commands end to end on a SQLite store, in process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from billing_desk.cli import main
from billing_desk.services.audit import CSV_COLUMNS
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from tests.integration.corrections_support import lines, seed


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = create_store_engine(url)
    upgrade(engine)
    seed(engine)
    return url, engine


def run(url: str, who: str, *args: str) -> int:
    return main(["--db", url, "--as", who, "--json", *args])


def out(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


PROPOSE = ["corrections", "propose", "--customer", "c1", "--period", "2026-01"]


def test_four_eyes_through_the_cli(
    store: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    url, engine = store
    # The first login to act on the new store is its admin.
    assert run(url, "ada", "staff", "add", "ann", "--role", "agent") == 0
    assert out(capsys) == {"login": "ann", "role": "agent", "previous": None}
    assert run(url, "ada", "staff", "add", "lee", "--role", "lead") == 0
    capsys.readouterr()
    assert (
        run(url, "ann", *PROPOSE, "--kind", "credit", "--amount", "100.00", "--reason", "goodwill")
        == 0
    )
    proposed = out(capsys)
    assert proposed == {"id": 1, "status": "pending_approval"}
    assert run(url, "ann", "corrections", "approve", "1") == 1
    assert "only a lead or an admin approves" in capsys.readouterr().err
    assert run(url, "lee", "corrections", "approve", "1", "--note", "ok") == 0
    assert out(capsys) == {"id": 1, "status": "applied"}
    assert [ln.amount for ln in lines(engine)] == [30_000, 12_000, -10_000]
    assert run(url, "lee", "corrections", "list", "--status", "applied") == 0
    (row,) = out(capsys)  # type: ignore[misc]
    assert (row["id"], row["kind"], row["amount"], row["status_by"]) == (1, "credit", 10_000, "lee")


def test_bad_input_is_named_and_writes_nothing(
    store: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    url, engine = store
    cases = [
        (["--kind", "refund", "--reason", "goodwill"], "kind 'refund' is not one of"),
        (["--kind", "credit", "--amount", "1.001", "--reason", "goodwill"], "at most 2 decimals"),
        (["--kind", "credit", "--amount", "1e3", "--reason", "goodwill"], "not a decimal number"),
        (["--kind", "credit", "--amount", "5", "--reason", "other"], "requires --note"),
        (["--kind", "credit", "--amount", "5", "--reason", "because"], "reason 'because'"),
        (["--kind", "adjust", "--line", "1", "--reason", "goodwill"], "exactly one of --amount"),
        (["--kind", "void-invoice", "--reason", "goodwill"], "void-invoice refused"),
        (
            ["--kind", "adjust", "--line", "1", "--quantity", "-2", "--reason", "goodwill"],
            "--quantity",
        ),
    ]
    for extra, message in cases:
        assert run(url, "ada", *PROPOSE, *extra) == 1, extra
        assert message in capsys.readouterr().err
    assert (
        run(
            url,
            "ada",
            "corrections",
            "propose",
            "--customer",
            "nobody",
            "--period",
            "2026-01",
            "--kind",
            "hold",
            "--reason",
            "goodwill",
        )
        == 1
    )
    assert "customer 'nobody' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        run(url, "ada", "corrections", "approve", "x")
    assert usage.value.code == 2
    assert "argument ID: must be a whole number" in capsys.readouterr().err
    assert [ln.amount for ln in lines(engine)] == [30_000, 12_000]
    assert run(url, "ada", "corrections", "list") == 0
    assert out(capsys) == []


def test_staff_commands_are_for_admins(
    store: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = store
    assert run(url, "ada", "staff", "add", "ann", "--role", "agent") == 0
    capsys.readouterr()
    assert run(url, "ann", "staff", "add", "ann", "--role", "admin") == 1
    assert "only an admin changes staff (ann is an agent)" in capsys.readouterr().err
    assert run(url, "ann", "staff", "list") == 1
    capsys.readouterr()
    assert run(url, "ada", "staff", "add", "ann", "--role", "lead") == 0
    assert out(capsys) == {"login": "ann", "role": "lead", "previous": "agent"}
    assert run(url, "ada", "staff", "list") == 0
    assert [(m["login"], m["role"]) for m in out(capsys)] == [("ada", "admin"), ("ann", "lead")]  # type: ignore[attr-defined]


def test_audit_verify_export_and_list(
    store: tuple[str, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = store
    run(url, "ada", "staff", "add", "ann", "--role", "agent")
    run(url, "ann", *PROPOSE, "--kind", "credit", "--amount", "50", "--reason", "goodwill")
    run(url, "ada", "corrections", "reject", "1", "--note", '=HYPERLINK("http://x")')
    assert run(url, "ada", "staff", "add", "--role", "agent", "--", "-1+1") == 1
    assert "login '-1+1'" in capsys.readouterr().err
    capsys.readouterr()
    assert run(url, "ada", "audit", "verify") == 0
    report = out(capsys)
    assert report["ok"] is True  # type: ignore[index]
    assert report["rows"] == 4  # type: ignore[index]
    csv_path = tmp_path / "audit.csv"
    assert run(url, "ada", "audit", "export", "--out", str(csv_path)) == 0
    assert out(capsys) == {"rows": 4, "out": str(csv_path)}
    with csv_path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[4][3:5] == ["correction.rejected", "correction:1"]
    assert rows[4][7] == '\'=HYPERLINK("http://x")'
    # Every cell of every row: nothing a spreadsheet would run.
    assert not [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert run(url, "ada", "audit", "export", "--out", str(csv_path), "--since", "2999-01-01") == 0
    assert out(capsys) == {"rows": 0, "out": str(csv_path)}
    assert run(url, "ada", "audit", "export", "--out", str(csv_path), "--since", "yesterday") == 1
    assert "--since 'yesterday'" in capsys.readouterr().err
    assert run(url, "ada", "audit", "list", "--limit", "1") == 0
    (newest,) = out(capsys)  # type: ignore[misc]
    assert (newest["seq"], newest["action"]) == (4, "correction.rejected")
    head = report["head_hash"]  # type: ignore[index]
    assert run(url, "ada", "audit", "verify", "--expect-head", head) == 0
    capsys.readouterr()
    assert run(url, "ada", "audit", "verify", "--expect-head", "0" * 64) == 4

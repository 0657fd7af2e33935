"""Numeric options out of range are usage errors (exit 2, CONTRACT.md): the message names the
option and the range allowed, and nothing is opened or written. Values at the edges work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from billing_desk.cli import main
from billing_desk.cli.parser import MAX_ID, MAX_LISTED, MAX_SEQ, SEARCH_MAX
from billing_desk.services.search import MAX_LIMIT

PROPOSE = [
    "corrections",
    "propose",
    "--customer",
    "c1",
    "--period",
    "2026-01",
    "--kind",
    "void",
    "--reason",
    "other",
    "--note",
    "x",
]

# (arguments, the option as argparse names it, the range as the message gives it)
REFUSED = [
    *[
        (["customers", "search", "acme", "--limit", n], "--limit", "from 1 to 100")
        for n in ("101", "1000", "0", "-5", "ten", "2.5")
    ],
    *[
        (["corrections", "list", "--limit", n], "--limit", "from 1 to 10,000")
        for n in ("0", "-1", "10001")
    ],
    (["corrections", "queue", "--limit", "0"], "--limit", "from 1 to 10,000"),
    *[
        (["corrections", "approve", n], "ID", "from 1 to 2,147,483,647")
        for n in ("0", "-3", "2147483648", "99999999999999999999")
    ],
    (["corrections", "reject", "0", "--note", "x"], "ID", "from 1 to 2,147,483,647"),
    (["corrections", "undo", "-1", "--reason", "other"], "ID", "from 1 to 2,147,483,647"),
    (["corrections", "approve", "5", "--line-version", "0"], "--line-version", "from 1 to"),
    *[([*PROPOSE, "--line", n], "--line", "from 1 to 2,147,483,647") for n in ("0", "2147483648")],
    *[(["audit", "list", "--limit", n], "--limit", "from 1 to 10,000") for n in ("0", "50000")],
    *[
        (["audit", "list", "--before", n], "--before", "from 1 to 9,223,372,036,854,775,807")
        for n in ("0", "-7", str(2**63))
    ],
    *[
        (["sandbox", "--latency-ms", ms], "--latency-ms", "between 0 and 60,000")
        for ms in ("-1", "60001", "inf", "nan")
    ],
    *[
        (["sandbox", "--rate-limit", rps], "--rate-limit", "above 0 and at most 1,000,000")
        for rps in ("0", "-2", "inf", "nan")
    ],
    (["sandbox", "--fail-rate", "nan"], "--fail-rate", "between 0 and 1"),
    (["sandbox", "--drop-after-commit-rate", "2"], "--drop-after-commit-rate", "between 0 and 1"),
]


@pytest.mark.parametrize(("argv", "option", "allowed"), REFUSED)
def test_an_option_out_of_range_is_a_usage_error(
    argv: list[str],
    option: str,
    allowed: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = tmp_path / "store.sqlite3"
    with pytest.raises(SystemExit) as exited:
        main(["--db", f"sqlite:///{store}", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err
    assert allowed in err
    assert "Traceback" not in err
    assert not store.exists()  # refused before the store was opened


def test_the_search_bound_is_the_services() -> None:
    assert SEARCH_MAX == MAX_LIMIT


@pytest.mark.parametrize("grace", ["366d", "99999999999d", "9999999999999999999999s"])
def test_a_grace_past_a_year_is_refused_with_the_other_bad_durations(
    grace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--grace is checked by `close` with the period (a bad value is invalid input, exit 1, as
    CONTRACT.md's durations have always been); one too long no longer overflows the clock."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    assert main(["--db", url, "close", "--period", "2026-01", "--grace", grace]) == 1
    err = capsys.readouterr().err
    assert f"--grace must be at most 365d, got {grace!r}" in err
    assert "Traceback" not in err


def test_values_at_the_edges_are_taken(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customers = tmp_path / "customers.jsonl"
    customers.write_text(
        json.dumps({"id": "c1", "name": "Acme Ltd", "email": "a@acme.test", "currency": "usd"})
        + "\n"
    )

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--db", db_url, "--json", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("customers", "import", str(customers))[0] == 0
    code, out, _ = run("customers", "search", "acme", "--limit", str(SEARCH_MAX))
    assert code == 0
    assert [row["id"] for row in json.loads(out)] == ["c1"]
    assert run("corrections", "list", "--limit", str(MAX_LISTED))[:2] == (0, "[]\n")
    code, out, _ = run("audit", "list", "--limit", "1", "--before", str(MAX_SEQ))
    assert code == 0
    assert json.loads(out) == []
    # The largest id is a correction that does not exist: a plain refusal, not a crash.
    code, _, err = run("corrections", "approve", str(MAX_ID))
    assert code == 1
    assert str(MAX_ID) in err

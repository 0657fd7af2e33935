"""The foundation commands as users run them: `python -m billing_desk` in a subprocess.

The issue's "done when" for ingest: one bad row among 10,000 writes nothing and exits 1 naming
the row; `--skip-invalid` writes the 9,999 and the rejects file holds the one; the same file
again is all duplicates and changes nothing.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from billing_desk.cli import main

CUSTOMERS = [
    {"id": f"c{n}", "name": f"Customer {n}", "email": f"c{n}@example.com", "currency": "usd"}
    for n in range(10)
]


def cli(db_url: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billing_desk", "--db", db_url, *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def usage(n: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-{n:05d}",
        "customer": f"c{n % 10}",
        "item": ["api.calls", "storage.gb-hours"][n // 10 % 2],
        "quantity": f"{n % 7}.25",
        "unit_amount": "0.4",
        "currency": "usd",
        "occurred_at": f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
    }


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "increments": conn.execute(text("SELECT count(*) FROM increments")).scalar(),
            "lines": conn.execute(
                text("SELECT id, quantity, amount, version FROM lines ORDER BY id")
            ).all(),
            "outbox": conn.execute(
                text("SELECT line_id, target_version, idempotency_key FROM outbox ORDER BY id")
            ).all(),
        }


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "customers.jsonl", CUSTOMERS)


def test_ingest_done_when(
    engine: Engine, db_url: str, tmp_path: Path, customers_file: Path
) -> None:
    imported = cli(db_url, "--json", "customers", "import", str(customers_file))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["created"] == 10
    rows = [usage(n) for n in range(10_000)]
    good = dict(rows[4321])
    rows[4321] = {**good, "quantity": 0.25}  # a JSON float: cents would be lost
    bad_file = write_jsonl(tmp_path / "usage.jsonl", rows)
    empty = snapshot(engine)

    atomic = cli(db_url, "--json", "ingest", str(bad_file))
    assert atomic.returncode == 1
    assert json.loads(atomic.stdout) == {"accepted": 0, "duplicates": 0, "rejected": 1}
    assert f"{bad_file}:4322: quantity: the JSON number 0.25 is a binary float" in atomic.stderr
    assert "Traceback" not in atomic.stderr
    assert snapshot(engine) == empty

    rejects = tmp_path / "rejects.jsonl"
    skipping = cli(
        db_url, "--json", "ingest", str(bad_file), "--skip-invalid", "--rejects", str(rejects)
    )
    assert skipping.returncode == 1
    assert json.loads(skipping.stdout) == {"accepted": 9999, "duplicates": 0, "rejected": 1}
    (record,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (record["file"], record["line"]) == (str(bad_file), 4322)
    assert record["reason"].startswith("quantity: the JSON number 0.25")
    assert json.loads(record["row"]) == rows[4321]
    assert snapshot(engine)["increments"] == 9999

    rows[4321] = good
    fixed = write_jsonl(tmp_path / "fixed.jsonl", rows)
    completed = cli(db_url, "--json", "ingest", str(fixed))
    assert json.loads(completed.stdout) == {"accepted": 1, "duplicates": 9999, "rejected": 0}
    before = snapshot(engine)
    again = cli(db_url, "--json", "ingest", str(fixed))
    assert again.returncode == 0
    assert json.loads(again.stdout) == {"accepted": 0, "duplicates": 10_000, "rejected": 0}
    assert snapshot(engine) == before

    lines = cli(db_url, "--json", "lines", "--customer", "c3", "--period", "2026-01")
    assert lines.returncode == 0, lines.stderr
    listed = json.loads(lines.stdout)
    assert {row["item"] for row in listed} == {"api.calls", "storage.gb-hours"}
    for row in listed:
        assert set(row) == {
            "id",
            "item",
            "description",
            "quantity",
            "unit_amount",
            "amount",
            "currency",
            "sync_state",
            "stripe_invoice_item",
        }
        assert isinstance(row["amount"], int)
        assert isinstance(row["quantity"], str)
        assert (row["unit_amount"], row["currency"], row["sync_state"]) == ("0.4", "usd", "pending")


def run_in_process(
    capsys: pytest.CaptureFixture[str], db_url: str, *args: str, stdin: bytes = b""
) -> tuple[int, str, str]:
    """The same program without a new interpreter (fast), for the cases that need no pty."""
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        code = main(["--db", db_url, *args])
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return code, out, err


def test_stdin_usage_errors_and_human_output(
    sqlite_engine: Engine, customers_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(sqlite_engine.url)
    assert run_in_process(capsys, url, "customers", "import", str(customers_file))[0] == 0
    line = json.dumps(usage(1)).encode()
    code, out, _ = run_in_process(capsys, url, "--json", "ingest", "-", stdin=line + b"\n")
    assert (code, json.loads(out)) == (0, {"accepted": 1, "duplicates": 0, "rejected": 0})
    code, out, _ = run_in_process(capsys, url, "ingest", "-", stdin=line)
    assert (code, out) == (0, "0 accepted, 1 duplicates, 0 rejected\n")
    code, _, err = run_in_process(capsys, url, "ingest", "-", "--skip-invalid")
    assert code == 2
    assert "--skip-invalid needs --rejects PATH" in err
    code, _, err = run_in_process(capsys, url, "ingest", str(tmp_path / "nope.jsonl"))
    assert code == 2
    assert "cannot read" in err
    code, _, err = run_in_process(capsys, url, "lines", "--customer", "c1", "--period", "2026-1")
    assert (code, err) == (
        1,
        "billing-desk: error: --period '2026-1' is not a month like 2026-01\n",
    )
    code, _, err = run_in_process(capsys, url, "lines", "--customer", "zz", "--period", "2026-01")
    assert code == 1
    assert err == "billing-desk: error: --customer 'zz' is not an imported customer\n"
    code, out, _ = run_in_process(capsys, url, "lines", "--customer", "c1", "--period", "2026-01")
    assert code == 0
    assert "api.calls" in out
    assert "0.01 USD" in out  # 1.25 × 0.4 cents = 0.5 cents: rounded away from zero
    code, out, _ = run_in_process(capsys, url, "--json", "customers", "search", "c3")
    assert code == 0
    assert json.loads(out)[0] == {
        "id": "c3",
        "name": "Customer 3",
        "email": "c3@example.com",
        "stripe_customer_id": None,
    }


def test_progress_goes_to_stderr_only_when_it_is_a_terminal(
    sqlite_engine: Engine, tmp_path: Path, customers_file: Path
) -> None:
    url = str(sqlite_engine.url)
    assert cli(url, "customers", "import", str(customers_file)).returncode == 0
    data = write_jsonl(tmp_path / "u.jsonl", [usage(n) for n in range(2000)])
    plain = cli(url, "--json", "ingest", str(data))
    assert "MiB" not in plain.stderr
    primary, secondary = pty.openpty()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "billing_desk", "--db", url, "--json", "ingest", str(data)],
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=120,
            check=False,
        )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert run.returncode == 0
    assert json.loads(run.stdout) == {"accepted": 0, "duplicates": 2000, "rejected": 0}
    assert b"100.0%" in shown  # the bar, drawn on the terminal, not on stdout

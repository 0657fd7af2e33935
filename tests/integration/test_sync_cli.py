"""`billing-desk sync` and `close` as a user runs them: JSON summaries and exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from billing_desk.cli import main
from tests.integration.sync_seed import seed


def cli(
    capsys: pytest.CaptureFixture[str], db_url: str, sandbox: Any, *args: str
) -> tuple[int, Any]:
    code = main(["--db", db_url, "--stripe-base", sandbox.url, "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_sync_close_and_finalize_from_the_command_line(
    engine: Engine,
    db_url: str,
    stripe_sandbox: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(engine, customers=3, lines_per_customer=2, now=datetime.now(UTC))
    monkeypatch.setenv("STRIPE_API_KEY", stripe_sandbox.api_key)
    # Fresh lines wait for the daily interval; closing pushes them.
    code, summary = cli(capsys, db_url, stripe_sandbox, "sync", "--once")
    assert code == 0
    assert summary["pushed"] == 0  # (the calls it made are the pull's first reconciliation)
    assert set(summary) == {
        "api_calls",
        "pushed",
        "pulled",
        "finalized",
        "pending",
        "needs_attention",
    }
    code, closed = cli(
        capsys, db_url, stripe_sandbox, "close", "--period", "2026-10", "--grace", "0"
    )
    assert (code, closed) == (0, {"invoices": 3, "api_calls": 3 + 6 + 3})
    code, summary = cli(capsys, db_url, stripe_sandbox, "sync", "--once")
    assert code == 0
    assert summary["finalized"] == 3
    assert summary["pending"] == summary["needs_attention"] == 0


def test_bad_input_and_a_missing_key_are_named(
    engine: Engine,
    db_url: str,
    stripe_sandbox: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert main(["--db", db_url, "sync", "--once"]) == 5
    assert "no Stripe key" in capsys.readouterr().err
    monkeypatch.setenv("STRIPE_API_KEY", stripe_sandbox.api_key)
    assert main(["--db", db_url, "close", "--period", "2026-13"]) == 1
    assert "--period must be YYYY-MM" in capsys.readouterr().err
    assert main(["--db", db_url, "close", "--period", "2026-10", "--grace", "1w"]) == 1
    assert "--grace" in capsys.readouterr().err
    assert main(["--db", db_url, "sync", "--customer", "nobody"]) == 1
    assert "no customer with id 'nobody'" in capsys.readouterr().err

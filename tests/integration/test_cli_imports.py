"""The CLI starts fast because it imports only what the command runs: `--help` needs no store,
and the store-only commands need neither Stripe (stripe-python, aiohttp), Alembic nor Qt.

Each check runs in a fresh interpreter, as a user's command does, and reads `sys.modules`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from billing_desk.cli import build_parser
from billing_desk.cli.parser import CORRECTION_KINDS, Lazy
from billing_desk.domain.corrections import Kind

STRIPE_AND_QT = ("stripe", "aiohttp", "alembic", "PySide6", "qasync")
EVERYTHING_HEAVY = ("sqlalchemy", "psycopg", "keyring", *STRIPE_AND_QT)

PROBE = """
import json, sys
from billing_desk.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*argv: str) -> tuple[int, set[str]]:
    """Run the CLI with `argv` in a fresh interpreter: its exit code and the top-level
    packages it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    return result["code"], {name.split(".")[0] for name in result["modules"]}


def test_help_imports_no_store_stripe_or_qt() -> None:
    code, loaded = loaded_by("--help")
    assert code == 0
    assert loaded.isdisjoint(EVERYTHING_HEAVY), loaded & set(EVERYTHING_HEAVY)
    code, loaded = loaded_by("corrections", "propose", "--help")
    assert code == 0
    assert loaded.isdisjoint(EVERYTHING_HEAVY), loaded & set(EVERYTHING_HEAVY)


def test_store_commands_import_no_stripe_alembic_or_qt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    customers = tmp_path / "customers.jsonl"
    customers.write_text(
        json.dumps({"id": "c1", "name": "Acme Ltd", "email": "a@acme.test", "currency": "usd"})
        + "\n"
    )
    # The first command creates the store (Alembic, once); those after find it current.
    assert loaded_by("--db", url, "customers", "import", str(customers))[0] == 0
    for argv in (
        ["lines", "--customer", "c1", "--period", "2026-01"],
        ["customers", "search", "acme"],
        ["corrections", "list"],
        ["audit", "verify"],
    ):
        code, loaded = loaded_by("--db", url, "--json", *argv)
        assert code == 0, argv
        assert loaded.isdisjoint(STRIPE_AND_QT), (argv, loaded & set(STRIPE_AND_QT))


def test_the_gateway_package_imports_stripe_only_when_a_name_needs_it() -> None:
    probe = (
        "import sys\n"
        "import billing_desk.stripe_gateway, billing_desk.stripe_gateway.types\n"
        "assert 'stripe' not in sys.modules and 'aiohttp' not in sys.modules\n"
        "from billing_desk.stripe_gateway import StripeGateway, RateLimiter\n"
        "assert 'stripe' in sys.modules\n"
        "import billing_desk.stripe_gateway.client as client\n"
        "assert StripeGateway is client.StripeGateway\n"
        "try:\n"
        "    billing_desk.stripe_gateway.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('an unknown name must raise AttributeError')\n"
        "from billing_desk.stripe_gateway import redact\n"
        "assert 'abcdefghijkl' not in redact('key sk_test_abcdefghijkl')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def _handlers(parser: argparse.ArgumentParser) -> list[Lazy]:
    found = [parser.get_default("handler")] if parser.get_default("handler") else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _handlers(child)
    return found


def test_every_command_names_a_handler_that_exists() -> None:
    handlers = _handlers(build_parser())
    assert len(handlers) >= 20
    for handler in handlers:
        assert isinstance(handler, Lazy)
        assert callable(handler.resolve()), handler


def test_the_help_lists_every_correction_kind() -> None:
    assert tuple(k.value for k in Kind if k is not Kind.UNDO) == CORRECTION_KINDS

"""The command line's grammar (CONTRACT.md): global options, every command and its options.

It imports nothing heavy, so `billing-desk --help` and a mistyped option answer at once: each
command's handler is named here (`Lazy`) and its module — with the store, Stripe or Qt behind
it — is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_desk.cli.context import Context

Handler = Callable[["Context", argparse.Namespace], int]

CORRECTION_KINDS = ("adjust", "void", "credit", "one-off", "void-invoice", "hold", "release")


@dataclass(frozen=True)
class Lazy:
    """The handler `billing_desk.cli.<module>.<name>`, imported when it is first called."""

    module: str
    name: str

    def resolve(self) -> Handler:
        module = importlib.import_module(f"billing_desk.cli.{self.module}")
        found: Handler = getattr(module, self.name)
        return found

    def __call__(self, ctx: Context, args: argparse.Namespace) -> int:
        return self.resolve()(ctx, args)


class _Parser(argparse.ArgumentParser):
    # The command names (top-level parser only).
    commands: frozenset[str] = frozenset()

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> _Parser:
    parser = _Parser(
        prog="billing-desk",
        description="Billing Desk: the local usage ledger and support desk over Stripe.",
    )
    parser.add_argument("--db", metavar="URL", help="store URL (env BILLING_DESK_DB)")
    parser.add_argument(
        "--as", dest="as_user", metavar="USER", help="act as USER (env BILLING_DESK_USER)"
    )
    parser.add_argument(
        "--stripe-base", metavar="URL", help="Stripe API base (env BILLING_DESK_STRIPE_BASE)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON value on stdout")
    parser.add_argument("--demo", action="store_true", help="shorthand for `gui --demo`")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in (
        _gui,
        _db,
        _customers,
        _ingest,
        _lines,
        _sync,
        _corrections,
        _audit,
        _staff,
        _sandbox,
    ):
        register(sub)
    parser.commands = frozenset(sub.choices)
    return parser


# Argument types --------------------------------------------------------------------------------


# Every numeric option is checked here: a value out of its range is a usage error (exit 2) whose
# message names the option and the range, before the store is opened.
MAX_ID = 2_147_483_647  # ids and versions are the store's INTEGER columns
MAX_SEQ = 9_223_372_036_854_775_807  # audit seqs are BIGINT
MAX_LISTED = 10_000  # rows one listing prints
SEARCH_MAX = 100  # services.search.MAX_LIMIT (a test keeps the two equal)
MAX_LATENCY_MS = 60_000.0  # past a minute every Stripe client has long timed out
MAX_RATE = 1_000_000.0


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low:,} to {high:,}, not {text!r}"
            )
        return value

    return parse


def _number(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (or (low, high] with `above_low`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if above_low and not low < value <= high:
            raise argparse.ArgumentTypeError(
                f"must be above {_shown(low)} and at most {_shown(high)}, not {text}"
            )
        if not low <= value <= high:  # NaN too
            raise argparse.ArgumentTypeError(
                f"{text} is not between {_shown(low)} and {_shown(high)}"
            )
        return value

    return parse


def _shown(bound: float) -> str:
    return f"{bound:,.0f}" if bound == int(bound) else f"{bound:g}"


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


# Commands --------------------------------------------------------------------------------------


def _gui(sub: Any) -> None:
    gui = sub.add_parser("gui", help="the desktop app (the default with no command)")
    # Its own dest: `billing-desk --demo` sets the global flag, which this must not reset.
    gui.add_argument(
        "--demo",
        dest="gui_demo",
        action="store_true",
        help="a local Stripe sandbox and a temporary store with sample data",
    )
    gui.add_argument(
        "--screenshot",
        metavar="PNG",
        type=Path,
        help="render the main window once the first customer view has loaded, then exit 0",
    )
    gui.add_argument("--customer", metavar="ID", help="open this customer at start")
    gui.set_defaults(handler=Lazy("gui_cmd", "run_gui"))


def _db(sub: Any) -> None:
    db = sub.add_parser("db", help="the store's schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or migrate the schema (idempotent)")
    up.set_defaults(handler=Lazy("db_cmd", "run_upgrade"))


def _reject_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="write the valid rows; every invalid one goes to --rejects (still exits 1)",
    )
    parser.add_argument(
        "--rejects",
        metavar="PATH",
        help="write each invalid row and its reason here, as JSONL",
    )


def _customers(sub: Any) -> None:
    group = sub.add_parser("customers", help="import and search customers")
    cmds = group.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    imp = cmds.add_parser(
        "import",
        help="upsert customers by id (JSONL, or CSV by extension; - reads JSONL from stdin)",
        description="Upsert customers by id: id, name, email, currency, stripe_customer_id "
        "(optional). Atomic: one invalid row and nothing is written (exit 1), unless "
        "--skip-invalid writes the valid rows and sends each invalid one to --rejects.",
    )
    imp.add_argument("files", nargs="+", metavar="FILE", help="JSONL or CSV file, or -")
    _reject_options(imp)
    imp.set_defaults(handler=Lazy("customers_cmd", "run_import"))
    search = cmds.add_parser("search", help="find customers, best matches first")
    search.add_argument(
        "query", metavar="QUERY", help="an id, an email or part of it, a cus_ id, name words"
    )
    search.add_argument(
        "--limit",
        type=_whole(1, SEARCH_MAX),
        default=20,
        metavar="N",
        help=f"at most N, 1-{SEARCH_MAX} (20)",
    )
    search.set_defaults(handler=Lazy("search_cmd", "run_search"))


def _ingest(sub: Any) -> None:
    parser = sub.add_parser(
        "ingest",
        help="ingest usage increments (JSONL, or CSV by extension; - reads JSONL from stdin)",
        description="Ingest usage increments. Atomic: one invalid row and nothing is written "
        "(exit 1), unless --skip-invalid writes the valid rows and sends each invalid one to "
        "--rejects. An event_id seen before with the same content is a duplicate (counted); "
        "with different content it is invalid.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSONL or CSV file, or -")
    _reject_options(parser)
    parser.set_defaults(handler=Lazy("ingest_cmd", "run_ingest"))


def _lines(sub: Any) -> None:
    parser = sub.add_parser("lines", help="a customer's compiled lines for one period")
    parser.add_argument("--customer", required=True, metavar="ID")
    parser.add_argument("--period", required=True, metavar="YYYY-MM")
    parser.set_defaults(handler=Lazy("lines_cmd", "run_lines"))


def _sync(sub: Any) -> None:
    sync = sub.add_parser("sync", help="push changes to Stripe, pull, finalize due invoices")
    sync.add_argument("--once", action="store_true", help="one full pass, then exit")
    sync.add_argument("--customer", metavar="ID", help="only this customer, all its changes")
    sync.set_defaults(handler=Lazy("sync_cmd", "run_sync"))
    close = sub.add_parser("close", help="close a period: a Stripe draft invoice per customer")
    close.add_argument("--period", required=True, metavar="YYYY-MM")
    # Checked with the period by `close` itself: a bad value is invalid input (exit 1).
    close.add_argument(
        "--grace", metavar="DURATION", help="0, 90s, 30m, 24h, 3d, at most 365d (settings)"
    )
    close.set_defaults(handler=Lazy("sync_cmd", "run_close"))


def _corrections(sub: Any) -> None:
    group = sub.add_parser("corrections", help="propose, approve, reject and list corrections")
    cmds = group.add_subparsers(dest="corrections_command", metavar="ACTION", required=True)

    for name, text in (
        ("propose", "propose a correction (applied at once within your limit)"),
        ("preview", "what a proposal would do now, without recording it"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("--customer", required=True, metavar="ID")
        p.add_argument("--period", required=True, metavar="YYYY-MM")
        p.add_argument("--kind", required=True, metavar="KIND", help=", ".join(CORRECTION_KINDS))
        p.add_argument("--line", type=_whole(1, MAX_ID), metavar="LINE_ID")
        p.add_argument("--amount", metavar="DEC", help="in the currency's major unit: 12.50")
        p.add_argument("--quantity", metavar="DEC")
        p.add_argument("--description", metavar="TEXT")
        p.add_argument("--reason", required=True, metavar="CODE")
        p.add_argument("--note", metavar="TEXT")
        if name == "preview":
            p.add_argument(
                "--stripe", action="store_true", help="also ask Stripe what it would compute"
            )
        p.set_defaults(handler=Lazy("corrections_cmd", f"run_{name}"))

    approve = cmds.add_parser("approve", help="approve (lead; not your own) and apply")
    approve.add_argument("id", type=_whole(1, MAX_ID), metavar="ID")
    approve.add_argument("--note", metavar="TEXT")
    approve.add_argument(
        "--line-version",
        type=_whole(1, MAX_ID),
        metavar="N",
        help="refuse if the line is no longer at the version you reviewed",
    )
    approve.set_defaults(handler=Lazy("corrections_cmd", "run_approve"))

    reject = cmds.add_parser("reject", help="reject (lead; not your own)")
    reject.add_argument("id", type=_whole(1, MAX_ID), metavar="ID")
    reject.add_argument("--note", required=True, metavar="TEXT")
    reject.set_defaults(handler=Lazy("corrections_cmd", "run_reject"))

    undo = cmds.add_parser("undo", help="propose undoing an applied correction")
    undo.add_argument("id", type=_whole(1, MAX_ID), metavar="ID")
    undo.add_argument("--reason", required=True, metavar="CODE")
    undo.add_argument("--note", metavar="TEXT")
    undo.set_defaults(handler=Lazy("corrections_cmd", "run_undo"))

    listing = cmds.add_parser("list", help="corrections, newest first (JSON array)")
    listing.add_argument("--status", metavar="S")
    listing.add_argument("--customer", metavar="ID")
    listing.add_argument("--period", metavar="YYYY-MM")
    listing.add_argument(
        "--limit", type=_whole(1, MAX_LISTED), default=200, metavar="N", help="at most N (200)"
    )
    listing.set_defaults(handler=Lazy("corrections_cmd", "run_list"))

    queue = cmds.add_parser("queue", help="what awaits a lead, soonest finalization first")
    queue.add_argument(
        "--limit", type=_whole(1, MAX_LISTED), default=50, metavar="N", help="at most N (50)"
    )
    queue.set_defaults(handler=Lazy("corrections_cmd", "run_queue"))


def _audit(sub: Any) -> None:
    group = sub.add_parser("audit", help="the append-only, hash-chained audit trail")
    cmds = group.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    export = cmds.add_parser("export", help="write the trail as CSV (formula-safe cells)")
    export.add_argument("--out", required=True, metavar="FILE.csv", type=Path)
    export.add_argument("--since", metavar="ISO", help="only rows at or after this time")
    export.set_defaults(handler=Lazy("audit_cmd", "run_export"))
    verify = cmds.add_parser("verify", help="check the chain (exit 4 if tampered with)")
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="also check that the trail ends at this hash (noted from an earlier verify)",
    )
    verify.set_defaults(handler=Lazy("audit_cmd", "run_verify"))
    listing = cmds.add_parser("list", help="newest rows first (JSON array)")
    listing.add_argument(
        "--limit", type=_whole(1, MAX_LISTED), default=50, metavar="N", help="at most N (50)"
    )
    listing.add_argument(
        "--before", type=_whole(1, MAX_SEQ), metavar="SEQ", help="rows older than this seq"
    )
    listing.add_argument("--subject", metavar="S", help="e.g. correction:12")
    listing.set_defaults(handler=Lazy("audit_cmd", "run_list"))


def _staff(sub: Any) -> None:
    group = sub.add_parser("staff", help="who may do what (admins only)")
    cmds = group.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    add = cmds.add_parser("add", help="give USER a role (creates the PostgreSQL login)")
    add.add_argument("login", metavar="USER")
    add.add_argument("--role", required=True, choices=("agent", "lead", "admin"))
    add.set_defaults(handler=Lazy("staff_cmd", "run_add"))
    listing = cmds.add_parser("list", help="the staff and their roles (JSON array)")
    listing.set_defaults(handler=Lazy("staff_cmd", "run_list"))


def _sandbox(sub: Any) -> None:
    p = sub.add_parser(
        "sandbox",
        help="the local Stripe-compatible server (tests, demo)",
        description="A local, stateful, Stripe-compatible server with Stripe's failure modes. "
        "Admin endpoints live under /_sandbox/ (see billing_desk/sandbox/__init__.py).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=_port, default=12111, help="port (12111; 0 = any free one)")
    p.add_argument("--seed", choices=("none", "demo"), default="none", help="initial data (none)")
    p.add_argument(
        "--rate-limit",
        type=_number(0, MAX_RATE, above_low=True),
        metavar="RPS",
        help="requests per second per account",
    )
    p.add_argument(
        "--latency-ms",
        type=_number(0, MAX_LATENCY_MS),
        default=0.0,
        metavar="MS",
        help="added latency",
    )
    p.add_argument(
        "--fail-rate", type=_number(0, 1), default=0.0, metavar="P", help="share of 500s"
    )
    p.add_argument(
        "--drop-after-commit-rate",
        type=_number(0, 1),
        default=0.0,
        metavar="P",
        help="share of successful writes whose response is dropped",
    )
    p.add_argument("--random-seed", type=int, metavar="N", help="makes faults reproducible")
    p.add_argument(
        "--state", type=Path, metavar="FILE", help="load at start, save at stop and on snapshot"
    )
    p.set_defaults(handler=Lazy("sandbox_cmd", "run_sandbox"))

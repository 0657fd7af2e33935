"""`audit export --out FILE.csv [--since ISO]`, `audit verify` (CONTRACT.md) and `audit list`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.cli.corrections_cmd import actor
from billing_desk.domain.audit import timestamp_text
from billing_desk.services import audit
from billing_desk.store.uow import UnitOfWork

EXIT_TAMPERED = 4


def register(sub: Any) -> None:
    group = sub.add_parser("audit", help="the append-only, hash-chained audit trail")
    cmds = group.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    export = cmds.add_parser("export", help="write the trail as CSV (formula-safe cells)")
    export.add_argument("--out", required=True, metavar="FILE.csv", type=Path)
    export.add_argument("--since", metavar="ISO", help="only rows at or after this time")
    export.set_defaults(handler=_export)
    verify = cmds.add_parser("verify", help="check the chain (exit 4 if tampered with)")
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="also check that the trail ends at this hash (noted from an earlier verify)",
    )
    verify.set_defaults(handler=_verify)
    listing = cmds.add_parser("list", help="newest rows first (JSON array)")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    listing.add_argument("--before", type=int, metavar="SEQ", help="rows older than this seq")
    listing.add_argument("--subject", metavar="S", help="e.g. correction:12")
    listing.set_defaults(handler=_list)


def _export(ctx: Context, args: argparse.Namespace) -> int:
    since = None if args.since is None else audit.parse_since(args.since)
    with UnitOfWork(ctx.engine()) as uow:
        actor(ctx, uow, args)  # on PostgreSQL, --as naming someone else is refused
        summary = audit.export_csv(uow, args.out, since)
    ctx.emit(summary.to_json(), f"{summary.rows} audit rows written to {summary.out}")
    return 0


def _verify(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
        actor(ctx, uow, args)
        report = audit.verify(uow)
    problems = [str(p) for p in report.problems]
    if args.expect_head and args.expect_head != report.head_hash:
        problems.append(
            f"the trail ends at seq {report.head_seq} with hash {report.head_hash}, not at the "
            f"expected {args.expect_head} (rows were cut off or replaced)"
        )
    result = {
        "ok": not problems,
        "rows": report.rows,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "problems": problems,
    }
    if not problems:
        ctx.emit(
            result,
            f"audit trail intact: {report.rows} rows, head seq {report.head_seq} "
            f"hash {report.head_hash}",
        )
        return 0
    ctx.emit(result, "audit trail TAMPERED WITH:\n" + "\n".join(f"  {p}" for p in problems))
    ctx.warn(f"error: the audit trail was tampered with ({problems[0]})")
    return EXIT_TAMPERED


def _list(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
        actor(ctx, uow, args)
        page = audit.page(uow, limit=args.limit, before_seq=args.before, subject=args.subject)
        rows = [
            {
                "seq": r.seq,
                "at": timestamp_text(r.entry.at),
                "actor": r.entry.actor,
                "action": r.entry.action,
                "subject": r.entry.subject,
                "before": r.entry.before,
                "after": r.entry.after,
                "reason": r.entry.reason,
            }
            for r in page.rows
        ]
    ctx.emit(rows)
    return 0

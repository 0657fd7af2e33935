"""`audit export --out FILE.csv [--since ISO]`, `audit verify` (CONTRACT.md) and `audit list`:
the handlers (their options are in `parser.py`)."""

from __future__ import annotations

import argparse

from billing_desk.cli.context import Context
from billing_desk.domain.audit import timestamp_text
from billing_desk.services import audit
from billing_desk.store.uow import UnitOfWork

EXIT_TAMPERED = 4


def run_export(ctx: Context, args: argparse.Namespace) -> int:
    since = None if args.since is None else audit.parse_since(args.since)
    with UnitOfWork(ctx.engine()) as uow:
        summary = audit.export_csv(uow, args.out, since)
    ctx.emit(summary.to_json(), f"{summary.rows} audit rows written to {summary.out}")
    return 0


def run_verify(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
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


def run_list(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
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

"""The audit trail's use cases: verify the chain, export it as safe CSV, page through it, and
change a team setting with its audit row.

Other features record their own changes with `billing_desk.store.audit_repo.append_audit`
inside their transaction; this module only reads the trail, except for settings.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing_desk.domain.audit import ChainReport, safe_cell, timestamp_text, verify_chain
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.policy import check_admin
from billing_desk.services.staff import acting_role
from billing_desk.store import audit_repo
from billing_desk.store.settings_repo import save_setting
from billing_desk.store.uow import UnitOfWork

CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
)


def parse_since(text: str) -> datetime:
    """`2026-01-31` or an ISO timestamp; one without an offset is read as UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--since {text!r} is not an ISO date or timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def verify(uow: UnitOfWork) -> ChainReport:
    return verify_chain(audit_repo.iter_chain(uow.session))


@dataclass(frozen=True)
class ExportSummary:
    rows: int
    out: Path

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "out": str(self.out)}


def export_csv(uow: UnitOfWork, out: Path, since: datetime | None = None) -> ExportSummary:
    """Write the trail (from `since`) to `out` as CSV whose cells a spreadsheet shows as text,
    never runs. Written to a temporary file beside `out` and moved into place, so a failure
    never leaves half a file."""
    out = out.expanduser()
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a folder: name a .csv file")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out {out}: the folder {out.parent} does not exist")
    count = 0
    handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for row in audit_repo.iter_chain(uow.session, since=since):
                e = row.entry
                cells = (
                    str(row.seq),
                    timestamp_text(e.at),
                    e.actor,
                    e.action,
                    e.subject,
                    e.before or "",
                    e.after or "",
                    e.reason or "",
                    row.prev_hash,
                    row.hash,
                )
                writer.writerow([safe_cell(c) for c in cells])
                count += 1
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return ExportSummary(count, out)


def _exact(value: Any) -> Any:
    """A setting's JSON value with any float (a rate limit) as its exact decimal, because the
    audit trail records no floats."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def page(
    uow: UnitOfWork, *, limit: int = 50, before_seq: int | None = None, subject: str | None = None
) -> audit_repo.AuditPage:
    """The audit view: newest first, one index walk per page however long the trail is."""
    return audit_repo.page(uow.session, limit=limit, before_seq=before_seq, subject=subject)


def change_setting(uow: UnitOfWork, actor: str, key: str, value: Any) -> Any:
    """Set a team setting (admins only) and record before/after in the audit trail."""
    check_admin(actor, acting_role(uow, actor), "changes team settings")
    session = uow.session
    before = save_setting(session, key, value, actor)
    session.flush()
    audit_repo.append_audit(
        session,
        actor,
        "setting.changed",
        f"setting:{key}",
        {"value": _exact(before)},
        {"value": _exact(value)},
    )
    uow.commit()
    return before

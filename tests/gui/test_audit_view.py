"""The audit view: filters by customer, person, kind and date against a real trail, page by page
loading, CSV export and verification through the audit service."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QDate
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.domain.audit import AuditEntry, ChainedRow, canonical_json
from billing_desk.domain.corrections import Kind, Reason, Status
from billing_desk.services import audit as audit_service
from billing_desk.services.corrections import propose
from billing_desk.store import audit_repo
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.audit_view import AuditView
from billing_desk.ui.audit_view_model import AuditModel, change_summary, describe_row
from billing_desk.ui.audit_view_reads import PAGE_SIZE, AuditFilter, read_page
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.operations import OperationRunner
from tests.integration.corrections_support import NOW, add_staff, proposal, seed

WAIT_MS = 10_000
SYNC_ROWS = PAGE_SIZE + 20


def test_change_summary_names_what_changed() -> None:
    assert change_summary('{"status":"pending_approval"}', '{"status":"approved"}') == (
        "status: pending_approval → approved"
    )
    assert change_summary(None, '{"role":"lead"}') == "role: lead"
    assert change_summary('{"a":1,"b":2,"c":3,"d":4,"e":5}', '{"a":2,"b":3,"c":4,"d":5}') == (
        "a: 1 → 2; b: 2 → 3; c: 3 → 4; +2 more"
    )
    assert change_summary('{"value":"86400"}', '{"value":"3600"}') == "value: 86400 → 3600"
    assert change_summary(None, None) == ""


def test_the_model_loads_more_only_when_there_is_more() -> None:
    model = AuditModel()
    row = ChainedRow(
        7, AuditEntry(NOW, "ann", "correction.applied", "correction:1", None, '{"a":1}', None),
        "p" * 64, "h" * 64,
    )  # fmt: skip
    wanted: list[bool] = []
    model.more_wanted.connect(lambda: wanted.append(True))
    model.set_rows([row], has_more=False)
    assert not model.canFetchMore(model.index(-1, -1))
    model.set_rows([row], has_more=True)
    assert model.canFetchMore(model.index(-1, -1))
    model.fetchMore(model.index(-1, -1))
    model.fetchMore(model.index(-1, -1))  # one page at a time
    assert wanted == [True]
    model.append_rows([row], has_more=False)
    assert model.rowCount() == 2
    assert model.data(model.index(0, AuditModel.COL_CHANGE)) == "a: 1"
    assert "Hash: " + "h" * 64 in describe_row(row)


@pytest.fixture
def trail(store: Engine) -> Engine:
    """Corrections on c1 (ann), on cx2 (bob), a setting change (ada), then many sync rows."""
    seed(store, "c1")
    seed(store, "c_2")
    seed(store, "cx2")
    add_staff(store)
    with UnitOfWork(store, write=True) as uow:
        assert propose(uow, "ann", proposal(Kind.CREDIT, amount=1_000)).status is Status.APPLIED
    with UnitOfWork(store, write=True) as uow:
        propose(uow, "ann", proposal(Kind.HOLD, reason=Reason.CUSTOMER_DISPUTE))
    with UnitOfWork(store, write=True) as uow:
        propose(
            uow,
            "bob",
            proposal(Kind.CREDIT, customer="cx2", amount=500, note="=HYPERLINK(evil)"),
        )
    with UnitOfWork(store, write=True) as uow:
        audit_service.change_setting(uow, "ada", "finalize_grace", 3600)
    with UnitOfWork(store, write=True) as uow:
        for i in range(SYNC_ROWS):
            audit_repo.append_audit(
                uow.session, "sync-worker", "sync.needs_attention", f"outbox:{i}", None,
                {"customer": "cx2", "error": "No such customer"},
            )  # fmt: skip
        uow.commit()
    return store


def test_customer_filter_finds_its_rows_and_escapes_wildcards(trail: Engine) -> None:
    c1 = read_page(trail, AuditFilter(customer="c1")).rows
    assert {r.entry.subject.split(":")[0] for r in c1} == {"correction", "hold"}
    assert all("c1" in r.entry.subject or '"customer":"c1"' in (r.entry.after or "") for r in c1)
    assert read_page(trail, AuditFilter(customer="c_2")).rows == []  # not cx2's rows
    assert len(read_page(trail, AuditFilter(customer="cx2"), limit=500).rows) == SYNC_ROWS + 1
    holds = read_page(trail, AuditFilter(customer="c1", family="hold")).rows
    assert [r.entry.action for r in holds] == ["hold.placed"]


@pytest.fixture
def view(qtbot: QtBot, trail: Engine) -> Iterator[AuditView]:
    runner = OperationRunner(ChangeBus())
    view = AuditView(trail, "ada", runner, ChangeBus())
    qtbot.addWidget(view)
    view.resize(1000, 600)
    with qtbot.wait_signal(view.page_loaded, timeout=WAIT_MS):
        view.show()
    yield view
    assert runner.shutdown()


def filtered(qtbot: QtBot, view: AuditView, **changes: object) -> list[str]:
    """Change filters like an agent; the actions shown once the (debounced) reload is in."""
    with qtbot.wait_signal(view.page_loaded, timeout=WAIT_MS):
        for name, value in changes.items():
            widget = getattr(view, f"_{name}")
            if name == "kind":
                widget.setCurrentIndex(widget.findData(value))
            elif name in ("from", "to"):
                widget.setDate(value)
            else:
                widget.clear()
                qtbot.keyClicks(widget, str(value))
    return [r.entry.action for r in view._model.rows()]


def test_filters_by_customer_person_kind_and_date(qtbot: QtBot, view: AuditView) -> None:
    assert view._model.rowCount() == PAGE_SIZE
    assert view._model.rows()[0].entry.action == "sync.needs_attention"  # newest first
    assert "more below" in view._status.text()
    assert filtered(qtbot, view, customer="c1") == [
        "hold.placed",
        "correction.applied",
        "correction.applied",
    ]
    assert filtered(qtbot, view, customer="", person="ada") == ["setting.changed"]
    assert filtered(qtbot, view, person="", kind="setting") == ["setting.changed"]
    today = QDate.currentDate()
    assert filtered(qtbot, view, kind="", **{"from": today.addDays(1)}) == []
    assert view._status.text() == "No audit rows match these filters."
    assert len(filtered(qtbot, view, **{"from": today, "to": today})) == PAGE_SIZE
    with qtbot.wait_signal(view.page_loaded, timeout=WAIT_MS):
        view.clear_filters()
    assert view.current_filter() == AuditFilter()


def test_scrolling_loads_older_pages(qtbot: QtBot, view: AuditView) -> None:
    assert view._model.canFetchMore(view._model.index(-1, -1))
    with qtbot.wait_signal(view.page_loaded, timeout=WAIT_MS):
        view._table.scrollToBottom()
        view._model.fetchMore(view._model.index(-1, -1))
    seqs = [r.seq for r in view._model.rows()]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == len(set(seqs)) > PAGE_SIZE
    assert not view._model.has_more
    view._table.selectRow(len(seqs) - 1)
    assert view._detail.toPlainText().startswith(f"#{seqs[-1]}")


def test_export_and_verify_go_through_the_audit_service(
    qtbot: QtBot, view: AuditView, trail: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "trail.csv"
    with qtbot.wait_signal(view.exported, timeout=WAIT_MS) as done:
        view.export_to(out)
    summary = done.args[0]
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert summary.rows == len(rows) > SYNC_ROWS
    assert view._status.text() == f"Exported {len(rows):,} rows to {out}."
    bob = next(r for r in rows if r["actor"] == "bob")
    assert '"note":"=HYPERLINK(evil)"' in bob["after"]  # inside JSON: not a leading formula
    assert not any(cell.startswith("=") for r in rows for cell in r.values())

    with qtbot.wait_signal(view.verified, timeout=WAIT_MS) as checked:
        view.verify()
    assert checked.args[0].ok
    assert view._status.text().startswith("The trail is intact:")

    path = trail.url.database
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; "
            "DROP TRIGGER audit_log_chain; "
            f"UPDATE audit_log SET after = '{canonical_json({'amount': 1})}' WHERE seq = 3;"
        )
    with qtbot.wait_signal(view.verified, timeout=WAIT_MS) as checked:
        view.verify()
    assert not checked.args[0].ok
    assert view._status.text().startswith("The trail was tampered with: seq 3: edited")


def test_a_bad_export_path_is_said_in_plain_words(
    qtbot: QtBot, view: AuditView, tmp_path: Path
) -> None:
    view.export_to(tmp_path / "missing-folder" / "trail.csv")
    qtbot.wait_until(lambda: "does not exist" in view._status.text(), timeout=WAIT_MS)
    assert "Traceback" not in view._status.text()

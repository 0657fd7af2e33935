"""Operations run off the UI thread, report on it, and broadcast one change notice."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from billing_desk.domain.errors import InvalidInput
from billing_desk.ui.bus import CORRECTIONS, LINES, Change, ChangeBus
from billing_desk.ui.crash import CrashDialog, CrashReporter, redact
from billing_desk.ui.operations import OperationRunner
from tests.gui.conftest import ExpectedLogs


def test_change_touches_only_its_kinds_and_customers() -> None:
    change = Change.of(LINES, customers=["c1"])
    assert change.touches(LINES, "c1")
    assert not change.touches(LINES, "c2")
    assert not change.touches(CORRECTIONS, "c1")
    assert Change.of(LINES).touches(LINES, "anyone")


def test_work_runs_off_the_ui_thread_and_reports_on_it(qtbot: QtBot) -> None:
    bus = ChangeBus()
    runner = OperationRunner(bus)
    seen: dict[str, object] = {}

    def work() -> str:
        seen["work_thread"] = threading.current_thread()
        return "done"

    def on_success(result: str) -> None:
        seen["result"] = result
        seen["report_thread"] = threading.current_thread()

    with qtbot.wait_signal(bus.changed) as blocker:
        runner.run(work, on_success=on_success, change=Change.of(LINES, customers=["c1"]))
    assert blocker.args == [Change.of(LINES, customers=["c1"])]
    assert seen["result"] == "done"
    assert seen["work_thread"] is not threading.main_thread()
    assert seen["report_thread"] is threading.main_thread()
    assert runner.shutdown()


def test_a_refused_action_is_one_plain_sentence_and_no_change(qtbot: QtBot) -> None:
    bus = ChangeBus()
    runner = OperationRunner(bus)
    changes: list[object] = []
    bus.changed.connect(changes.append)

    def work() -> None:
        raise InvalidInput("amount must be positive")

    with qtbot.wait_signal(runner.operation_failed) as blocker:
        runner.run(work, change=Change.of(LINES))
    assert blocker.args == ["Amount must be positive."]
    assert changes == []
    assert runner.shutdown()


def test_a_bug_saves_a_crash_report_without_secrets(
    qtbot: QtBot, crash_dir: Path, expect_log: ExpectedLogs
) -> None:
    expect_log("crash report saved")
    bus = ChangeBus()
    runner = OperationRunner(bus)
    reporter = CrashReporter(crash_dir, show_dialog=False)
    runner.bug_found.connect(reporter.report)

    def work() -> None:
        raise KeyError("sk_test_abc123DEF leaked into a message")

    with qtbot.wait_signal(reporter.report_saved):
        runner.run(work)
    (report,) = reporter.reports
    text = report.read_text()
    assert "KeyError" in text
    assert "Traceback" in text
    assert "sk_test_abc123DEF" not in text
    assert runner.shutdown()


def test_redact_masks_keys_and_url_passwords() -> None:
    assert redact("key rk_live_XYZ9abc") == "key [redacted]"
    assert redact("postgresql+psycopg://bob:hunter2@db:5432/x") == (
        "postgresql+psycopg://bob:***@db:5432/x"
    )


def test_the_crash_dialog_names_the_report_and_shows_no_traceback(
    qtbot: QtBot, crash_dir: Path, expect_log: ExpectedLogs
) -> None:
    expect_log("crash report saved")
    reporter = CrashReporter(crash_dir)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        path = reporter.report(exc)
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, CrashDialog)]
    assert len(dialogs) == 1
    dialog = dialogs[0]
    qtbot.addWidget(dialog)
    texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert str(path) in texts
    assert "Traceback" not in texts
    assert "boom" not in texts
    assert "Traceback" in path.read_text()
    dialog.reject()

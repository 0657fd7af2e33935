"""The intervention dialog and the approvals tab rendered with realistic data, as the README shows
them: each must paint at a readable size without a Qt warning.

With BILLING_DESK_SCREENSHOT_DIR set, the images are also saved there
(`intervention-dialog.png`, `approvals.png`), which is how docs/screenshots is made:

    BILLING_DESK_SCREENSHOT_DIR=docs/screenshots \
        .venv/bin/pytest tests/gui/test_dialogs_screenshots.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from billing_desk.domain.corrections import Kind, Proposal, Reason
from billing_desk.services.corrections import propose
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.approvals import ApprovalsView
from billing_desk.ui.bus import ChangeBus
from billing_desk.ui.dialogs.actions import Action
from billing_desk.ui.dialogs.intervention import InterventionDialog, InterventionTarget
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.theme import palette_for
from tests.integration.corrections_support import PERIOD, add_staff, seed, set_invoice

WAIT_MS = 10_000
CUSTOMERS = ("acme-robotics", "globex", "initech", "umbrella", "hooli")


@pytest.fixture(autouse=True)
def light_theme(qapp: QApplication) -> Iterator[None]:
    """The app's own look (Fusion, the light palette), as the README shows it."""
    style, palette = qapp.style().name(), qapp.palette()
    qapp.setStyle("Fusion")
    qapp.setPalette(palette_for(dark=False))
    yield
    qapp.setPalette(palette)
    qapp.setStyle(style)


@pytest.fixture
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner(ChangeBus())
    yield runner
    assert runner.shutdown()


def grab(widget: QWidget) -> QPixmap:
    """The widget as painted once the layout has caught up with the last changes (layout
    requests are posted events; a grab does not wait for them)."""
    QApplication.processEvents()
    return widget.grab()


def keep(pixmap: QPixmap, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BILLING_DESK_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert pixmap.save(str(path))
    return path


def test_the_intervention_dialog_renders(
    qtbot: QtBot, store: Engine, runner: OperationRunner, tmp_path: Path
) -> None:
    seed(store, "acme-robotics", amounts=(1_234_500, 12_000))
    add_staff(store)
    dialog = InterventionDialog(
        Action.CREDIT,
        InterventionTarget("acme-robotics", PERIOD, "usd", "Acme Robotics"),
        engine=store,
        actor="ann",
        runner=runner,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.wait_signal(dialog.preview_ready, timeout=WAIT_MS):
        qtbot.keyClicks(dialog._amount, "150.00")
    dialog._reason.setCurrentIndex(dialog._reason.findData(Reason.GOODWILL.value))
    dialog._note.setText("Onboarding took two weeks longer than promised")
    assert dialog._next.isEnabled()
    pixmap = grab(dialog)
    assert pixmap.width() >= 500
    assert pixmap.height() >= 250
    keep(pixmap, "intervention-dialog.png", tmp_path)


def test_the_approvals_tab_renders(
    qtbot: QtBot, store: Engine, runner: OperationRunner, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    for i, customer in enumerate(CUSTOMERS):
        seed(store, customer, amounts=(1_234_500 - i * 100_000, 48_000))
        set_invoice(
            store,
            "draft",
            total=1_282_500 - i * 100_000,
            customer=customer,
            due_at=now + timedelta(hours=1 + 7 * i, minutes=20),
            stripe_id=f"in_1Q{i}x{customer[:4]}",
        )
    set_invoice(store, "open", total=1_082_500, customer="initech", stripe_id="in_1Q2xinit")
    add_staff(store)

    def ask(actor: str, kind: Kind, customer: str, reason: Reason, **kw: object) -> None:
        with UnitOfWork(store, write=True) as uow:
            propose(uow, actor, Proposal(kind, customer, PERIOD, reason, **kw))  # type: ignore[arg-type]

    ask("ann", Kind.CREDIT, "acme-robotics", Reason.GOODWILL, amount=15_000,
        note="Onboarding took two weeks longer")  # fmt: skip
    ask("bob", Kind.VOID, "globex", Reason.DUPLICATE_CHARGE, line_id=4)
    ask("lee", Kind.VOID_INVOICE, "initech", Reason.CUSTOMER_DISPUTE,
        note="Contract cancelled in December")  # fmt: skip
    ask("ann", Kind.ONE_OFF, "umbrella", Reason.GOODWILL, amount=99_900,
        description="Premium support, January")  # fmt: skip
    ask("bob", Kind.HOLD, "hooli", Reason.CUSTOMER_DISPUTE)

    view = ApprovalsView(store, "lee", runner, ChangeBus())
    qtbot.addWidget(view)
    view.resize(1180, 660)
    with qtbot.wait_signal(view.queues_loaded, timeout=WAIT_MS):
        view.show()
    assert view.pending_count == 4
    assert view.select_correction(1)
    pixmap = grab(view)
    assert pixmap.width() == 1180
    keep(pixmap, "approvals.png", tmp_path)
    view.hide()

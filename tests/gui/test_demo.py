"""The demo workspace: the sandbox's demo account mirrored into a temporary store, with one
customer for each thing an agent looks at; and `--screenshot` through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtGui import QImage
from sqlalchemy import func, select

from billing_desk.cli import build_parser
from billing_desk.domain.reconcile import RowStatus
from billing_desk.sandbox import demo_customers
from billing_desk.services.customer_view import customer_view
from billing_desk.services.demo import ROLES, period_of
from billing_desk.store.models import Customer, OutboxOperation
from billing_desk.store.models.corrections import Correction, Hold
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.app import SCREENSHOT_SIZE
from billing_desk.ui.demo import BANNER, start_demo


def test_the_demo_store_matches_the_sandbox_and_has_one_of_everything() -> None:
    workspace = start_demo("lead.lee")
    folder = Path(str(workspace.engine.url.database)).parent
    try:
        assert workspace.banner == BANNER
        paired = demo_customers()
        period = period_of(datetime.now(UTC))
        statuses: dict[str, Counter[RowStatus]] = {}
        with UnitOfWork(workspace.engine) as uow:
            s = uow.session
            assert s.scalar(select(func.count()).select_from(Customer)) == len(paired) + 1
            for index, customer in enumerate(paired):
                assert (
                    s.get(Customer, customer["id"]).stripe_customer_id
                    == (  # type: ignore[union-attr]
                        customer["stripe_customer_id"]
                    )
                )
                view = customer_view(uow, customer["id"], period)
                statuses[customer["id"]] = Counter(row.status for row in view.rows)
                role = ROLES.get(index, "in sync")
                if role in ("in sync", "big line", "pending approval", "hold", "draft due soon"):
                    assert view.reconciliation.in_sync, (customer["id"], role, view.rows)
            pending = s.scalar(select(func.count()).where(Correction.status == "pending_approval"))
            holds = s.scalar(select(func.count()).where(Hold.released_at.is_(None)))
            soon = s.scalar(
                select(func.min(PeriodInvoice.due_at)).where(PeriodInvoice.status == "draft")
            )
            refused = s.scalar(
                select(func.count()).where(OutboxOperation.state == "needs_attention")
            )
        by_role = {ROLES[i]: paired[i]["id"] for i in ROLES if i < len(paired)}
        assert set(statuses[by_role["showcase"]]) == set(RowStatus)  # one of everything
        assert statuses[by_role["amount differs"]][RowStatus.AMOUNT_DIFFERS] == 1
        assert statuses[by_role["only in Stripe"]][RowStatus.ONLY_IN_STRIPE] == 1
        assert statuses[by_role["waiting to push"]][RowStatus.WAITING_TO_PUSH] >= 1
        assert statuses[by_role["only local"]][RowStatus.ONLY_LOCAL] == 1
        assert pending == 2
        assert holds == 1
        assert soon is not None
        assert soon - datetime.now(UTC) < timedelta(hours=3)
        assert refused is not None
        assert refused >= 1
        assert workspace.start_customer == by_role["showcase"]
    finally:
        workspace.close()
    assert not folder.exists()


def test_screenshot_through_the_cli_renders_the_demo_and_exits_0(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "main.py", "gui", "--demo", "--screenshot", str(shot)],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    assert not (tmp_path / "data" / "billing-desk" / "crash-reports").exists()


def test_bare_demo_flag_opens_the_demo_app() -> None:
    args = build_parser().parse_args(["--demo", "gui"])
    assert args.command == "gui"
    assert args.demo
    assert not args.gui_demo

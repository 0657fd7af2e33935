"""A customer's period taken through the real sync engine into the sandbox, for the tests of
corrections in Stripe (`test_corrections_stripe`, `test_wiring_corrections`,
`test_stripe_preview`): lines pushed, then — as a test asks — the period closed into a draft or
an invoice finalized at once.

`FAST` is the engine's timing shrunk for tests (short leases, backoffs and patience); `PERIOD`
the period every desk bills.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.domain.corrections import Kind, Status
from billing_desk.domain.settings import Settings
from billing_desk.services import corrections as svc
from billing_desk.services.close import close_period
from billing_desk.store.models import Line
from billing_desk.store.models.corrections import Correction
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.corrections_support import add_staff, proposal
from tests.integration.sync_seed import FAST, seed

PERIOD = "2026-10"
# A draft under review for a day; finalized as soon as it is made.
DRAFT = timedelta(days=1)
AT_ONCE = timedelta(0)


class Desk:
    """One customer with pushed lines (two by default) and the staff of `corrections_support`.

    With a `grace`, the period is closed: its Stripe invoice is a draft due after `grace`, and
    finalized at once (checked) when `grace` is zero. Without, the lines stay pending items and
    there is no invoice yet.
    """

    def __init__(
        self, engine: Engine, sandbox: Any, grace: timedelta | None, *, lines: int = 2
    ) -> None:
        self.engine, self.sandbox = engine, sandbox
        seeded = seed(engine, customers=1, lines_per_customer=lines, period=PERIOD)
        self.customer = seeded.customers[0]
        self.lines = seeded.lines[self.customer]
        add_staff(engine)
        self.sync = SyncEngine(
            engine,
            GatewayConfig(
                sandbox.api_key,
                sandbox.url,
                timeout_s=10,
                retry=RetryPolicy(attempts=4, base_s=0.02, cap_s=0.2),
            ),
            Settings(sync_interval=timedelta(0)),
            config=FAST,
        )
        self.run()
        if grace is None:
            return
        with UnitOfWork(engine, write=True) as uow:
            close_period(uow, PERIOD, self.sync.clock.now(), grace)
        self.run(close_period=PERIOD)
        if grace == AT_ONCE:
            assert self.run().finalized == 1

    def run(self, **kw: Any) -> PassSummary:
        return asyncio.run(self.sync.run_once(**kw))

    def propose(self, who: str, kind: Kind, **kw: object) -> svc.Decision:
        with UnitOfWork(self.engine, write=True) as uow:
            return svc.propose(uow, who, proposal(kind, self.customer, PERIOD, **kw))

    def approved(self, kind: Kind, **kw: object) -> int:
        """A correction an agent asked for and a lead approved, not applied yet (agents' limit
        must be below its impact)."""
        asked = self.propose("ann", kind, **kw)
        assert asked.status is Status.PENDING_APPROVAL
        with UnitOfWork(self.engine, write=True) as uow:
            svc.approve(uow, "lee", asked.id)
        assert self.status(asked.id) == Status.APPROVED.value
        return asked.id

    def status(self, correction_id: int) -> str:
        with UnitOfWork(self.engine) as uow:
            c = uow.session.get(Correction, correction_id)
            assert c is not None
            return c.status

    def expected_total(self, correction_id: int) -> int:
        with UnitOfWork(self.engine) as uow:
            c = uow.session.get(Correction, correction_id)
            assert c is not None
            return c.total_after

    def local_total(self) -> int:
        with UnitOfWork(self.engine) as uow:
            rows = uow.session.scalars(select(Line).where(Line.customer_id == self.customer))
            return sum(ln.amount for ln in rows if not ln.voided)

    def invoice_id(self) -> str:
        with UnitOfWork(self.engine) as uow:
            inv = uow.session.scalar(select(PeriodInvoice))
            assert inv is not None
            assert inv.stripe_invoice_id is not None
            return inv.stripe_invoice_id

    def stripe_invoice(self) -> Any:
        return self.sandbox.client().v1.invoices.retrieve(self.invoice_id())

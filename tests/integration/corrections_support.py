"""Store setup shared by the corrections, audit and staff tests: a customer with usage lines,
staff with roles, a period invoice in a given state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, text

from billing_desk.domain.corrections import Kind, Proposal, Reason
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork

PERIOD = "2026-01"
NOW = datetime(2026, 2, 1, tzinfo=UTC)
STAFF = {"ada": "admin", "lee": "lead", "lou": "lead", "ann": "agent", "bob": "agent"}


def seed(
    engine: Engine,
    customer: str = "c1",
    amounts: tuple[int, ...] = (30_000, 12_000),
    currency: str = "usd",
) -> list[int]:
    """A customer with one usage line per amount (unit price 1 minor unit); the line ids."""
    ids = []
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(
            Customer(
                id=customer,
                name=f"Customer {customer}",
                email=f"{customer}@example.com",
                currency=currency,
                balance=0,
                flags={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        uow.session.flush()
        for i, amount in enumerate(amounts):
            line = Line(
                customer_id=customer,
                period=PERIOD,
                kind="usage",
                item=f"item-{i}",
                description=f"usage {i}",
                unit_amount=Decimal(1),
                currency=currency,
                quantity=Decimal(amount),
                increment_count=1,
                compiled_amount=amount,
                amount=amount,
                voided=False,
                version=1,
                synced_version=1,
                sync_state="synced",
                updated_at=NOW,
            )
            uow.session.add(line)
            uow.session.flush()
            ids.append(line.id)
        uow.commit()
    return ids


def add_staff(engine: Engine, staff: dict[str, str] | None = None) -> None:
    """The register only: on PostgreSQL the tests' superuser acts for these people, so no
    cluster-wide login is created (test_pg_roles creates real ones)."""
    with engine.begin() as conn:
        for login, role in (staff or STAFF).items():
            conn.execute(
                text(
                    "INSERT INTO staff (login, role, added_by, added_at, updated_at) "
                    "VALUES (:l, :r, 'test', :t, :t)"
                ),
                {"l": login, "r": role, "t": NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                if engine.dialect.name == "sqlite"
                else {"l": login, "r": role, "t": NOW},
            )


def set_invoice(
    engine: Engine,
    status: str,
    total: int | None = None,
    customer: str = "c1",
    due_at: datetime | None = None,
    stripe_id: str | None = "in_test_1",
) -> None:
    with UnitOfWork(engine, write=True) as uow:
        inv = uow.session.scalar(
            select(PeriodInvoice).where(
                PeriodInvoice.customer_id == customer, PeriodInvoice.period == PERIOD
            )
        )
        if inv is None:
            inv = PeriodInvoice(
                customer_id=customer,
                period=PERIOD,
                currency="usd",
                created_at=NOW,
                due_at=due_at or NOW + timedelta(days=1),
            )
            uow.session.add(inv)
        inv.status, inv.total, inv.stripe_invoice_id, inv.updated_at = (
            status,
            total,
            stripe_id,
            NOW,
        )
        if due_at is not None:
            inv.due_at = due_at
        uow.commit()


def line(engine: Engine, line_id: int) -> Line:
    with UnitOfWork(engine) as uow:
        found = uow.session.get(Line, line_id)
        assert found is not None
        uow.session.expunge(found)
        return found


def lines(engine: Engine, customer: str = "c1") -> list[Line]:
    with UnitOfWork(engine) as uow:
        found = list(
            uow.session.scalars(select(Line).where(Line.customer_id == customer).order_by(Line.id))
        )
        uow.session.expunge_all()
        return found


def total(engine: Engine, customer: str = "c1") -> int:
    return sum(ln.amount for ln in lines(engine, customer) if not ln.voided)


def outbox(engine: Engine) -> list[OutboxOperation]:
    with UnitOfWork(engine) as uow:
        found = list(uow.session.scalars(select(OutboxOperation).order_by(OutboxOperation.id)))
        uow.session.expunge_all()
        return found


def usage_arrives(engine: Engine, line_id: int, amount: int) -> None:
    """What ingest does to a line when usage arrives: compiled and billed amounts move together
    (a void line stays at 0) and the version grows."""
    with UnitOfWork(engine, write=True) as uow:
        found = uow.session.get(Line, line_id)
        assert found is not None
        found.compiled_amount += amount
        found.quantity += amount
        if not found.voided:
            found.amount += amount
        found.version += 1
        uow.commit()


def proposal(kind: Kind, customer: str = "c1", period: str = PERIOD, **kw: object) -> Proposal:
    reason = kw.pop("reason", Reason.GOODWILL)
    return Proposal(kind, customer, period, reason, **kw)  # type: ignore[arg-type]

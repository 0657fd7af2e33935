"""The staff register and, on PostgreSQL, the database logins and role memberships behind it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from billing_desk.domain.policy import Role
from billing_desk.store.models.corrections import Staff
from billing_desk.store.pg_roles import translated


def is_postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def session_login(session: Session) -> str:
    """The PostgreSQL login this session runs as."""
    return str(session.execute(text("SELECT session_user")).scalar_one())


def role_of(session: Session, login: str) -> Role | None:
    """What `login` may do: on PostgreSQL the database decides (role memberships), on SQLite
    the staff register."""
    if is_postgres(session):
        found = session.execute(text("SELECT billing_role_of(:login)"), {"login": login})
        value = found.scalar_one()
    else:
        value = session.scalar(select(Staff.role).where(Staff.login == login))
    return None if value is None else Role(value)


def is_empty(session: Session) -> bool:
    return not session.scalar(select(exists().where(Staff.login.is_not(None))))


def set_role(session: Session, login: str, role: Role, actor: str, now: datetime) -> Role | None:
    """Give `login` `role` (creating the PostgreSQL login if needed); returns the previous role
    in the register. The caller checks that `actor` may; PostgreSQL checks again itself."""
    row = session.get(Staff, login)
    previous = None if row is None else Role(row.role)
    if is_postgres(session):
        with translated():
            session.execute(
                text("SELECT billing_staff_set(:login, :role, :actor)"),
                {"login": login, "role": role.value, "actor": actor},
            )
        session.expire_all()
    elif row is None:
        session.add(
            Staff(login=login, role=role.value, added_by=actor, added_at=now, updated_at=now)
        )
    else:
        row.role, row.updated_at = role.value, now
    session.flush()
    return previous


def list_staff(session: Session) -> list[Staff]:
    return list(session.scalars(select(Staff).order_by(Staff.login)))

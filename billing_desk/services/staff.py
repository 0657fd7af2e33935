"""Who is acting and what they may do; adding staff (admins only), each change audited.

Identity: on PostgreSQL it is the database login, always (naming anyone else is refused). On
SQLite it is the `--as` name (or the OS login), and the first login to act on a store that has
no staff yet becomes its admin: on one desktop, that is the person who created the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from billing_desk.domain.errors import PermissionDenied
from billing_desk.domain.policy import Role, check_admin, check_login, parse_role
from billing_desk.store import staff_repo
from billing_desk.store.audit_repo import append_audit
from billing_desk.store.uow import UnitOfWork


def identity(uow: UnitOfWork, named: str | None, default: str) -> str:
    """The acting user: `named` (`--as`/BILLING_DESK_USER) or `default` (the OS login) on
    SQLite; the database login on PostgreSQL, where naming anyone else is refused."""
    session = uow.session
    if not staff_repo.is_postgres(session):
        return named or default
    login = staff_repo.session_login(session)
    if named is not None and named != login:
        raise PermissionDenied(
            f"on PostgreSQL you act as your database login ({login}); --as {named} is refused: "
            "connect with that person's own login instead"
        )
    return login


def acting_role(uow: UnitOfWork, actor: str) -> Role | None:
    """`actor`'s role; on a SQLite store without staff, `actor` becomes its first admin (in the
    caller's write transaction, audited)."""
    session = uow.session
    if not staff_repo.is_postgres(session) and staff_repo.is_empty(session):
        now = datetime.now(UTC)
        staff_repo.set_role(session, actor, Role.ADMIN, actor, now)
        append_audit(
            session,
            actor,
            "staff.bootstrapped",
            f"staff:{actor}",
            None,
            {"role": Role.ADMIN.value},
            "the first login to act on a new store is its admin",
        )
    return staff_repo.role_of(session, actor)


@dataclass(frozen=True)
class StaffChange:
    login: str
    role: Role
    previous: Role | None


def add(uow: UnitOfWork, actor: str, login: str, role_text: str) -> StaffChange:
    """Give `login` a role (creating the PostgreSQL login without a password if needed)."""
    role = parse_role(role_text)
    check_login(login)
    check_admin(actor, acting_role(uow, actor))
    session = uow.session
    previous = staff_repo.set_role(session, login, role, actor, datetime.now(UTC))
    if previous is not role:
        append_audit(
            session,
            actor,
            "staff.role_set",
            f"staff:{login}",
            None if previous is None else {"role": previous.value},
            {"role": role.value},
        )
    uow.commit()
    return StaffChange(login, role, previous)


@dataclass(frozen=True)
class StaffMember:
    login: str
    role: str
    added_by: str
    added_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "login": self.login,
            "role": self.role,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
        }


def members(uow: UnitOfWork, actor: str) -> list[StaffMember]:
    """The staff register (admins only, like every staff command)."""
    check_admin(actor, acting_role(uow, actor))
    return [
        StaffMember(s.login, s.role, s.added_by, s.added_at)
        for s in staff_repo.list_staff(uow.session)
    ]

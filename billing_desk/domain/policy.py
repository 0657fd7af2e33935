"""Who may do what: roles, per-role limits, four-eyes, holds and staff changes.

- `agent`s propose corrections; one whose money impact is within the agent's limit for the
  invoice currency applies at once, anything above it waits for a lead.
- `lead`s (and `admin`s) approve or reject, never their own proposals (four-eyes), and have a
  limit of their own for what they apply without a second person.
- `void-invoice` always waits for a lead other than the requester, whoever asks.
- A hold is released at once by a lead or by whoever placed it; anyone else's release waits.
- Only admins change staff and team settings.
"""

from __future__ import annotations

import enum
import re
from decimal import ROUND_FLOOR

from billing_desk.domain.corrections import Kind
from billing_desk.domain.currencies import currency
from billing_desk.domain.errors import InvalidInput, PermissionDenied
from billing_desk.domain.money import format_money
from billing_desk.domain.settings import Settings


class Role(enum.StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


DECIDERS = frozenset({Role.LEAD, Role.ADMIN})
# A login as both backends take it (PostgreSQL's own check is stricter: lower case).
_LOGIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}")


def check_login(login: str) -> str:
    if not _LOGIN.fullmatch(login):
        raise InvalidInput(
            f"login {login!r} must be 1 to 63 letters, digits or _ . @ - (not starting with . @ -)"
        )
    return login


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidInput(
            f"role {text!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None


def limit_minor(settings: Settings, role: Role, code: str) -> int | None:
    """The role's limit for `code` in minor units (rounded down), or None if it has none."""
    major = settings.limit_for(role.value, code)
    if major is None:
        return None
    minor = (major * currency(code).minor_per_major).to_integral_value(rounding=ROUND_FLOOR)
    return int(minor)


def require_staff(actor: str, role: Role | None) -> Role:
    if role is None:
        raise PermissionDenied(
            f"{actor} is not on the staff of this store: an admin adds them with "
            f"`billing-desk staff add {actor} --role agent`"
        )
    return role


def approval_needed(
    *,
    kind: Kind,
    actor: str,
    role: Role,
    magnitude: int,
    code: str,
    settings: Settings,
    hold_placed_by: str | None = None,
) -> str | None:
    """Why the correction must wait for a lead, in plain words; None when it applies at once."""
    if kind is Kind.VOID_INVOICE:
        return "void-invoice always needs a lead's approval"
    if kind is Kind.HOLD:
        return None
    if kind is Kind.RELEASE:
        if role in DECIDERS or actor == hold_placed_by:
            return None
        return f"the hold was placed by {hold_placed_by}: releasing it needs a lead's approval"
    limit = limit_minor(settings, role, code)
    if limit is None:
        return f"the {role} role has no limit for {code.upper()}: every correction needs approval"
    if magnitude > limit:
        return (
            f"its impact of {format_money(magnitude, code)} is above the {role} limit of "
            f"{format_money(limit, code)}"
        )
    return None


def check_may_decide(actor: str, role: Role | None, requester: str) -> None:
    """Four-eyes: a lead or admin, and never the person who asked."""
    if role not in DECIDERS:
        raise PermissionDenied(
            f"only a lead or an admin approves or rejects ({actor} is {_described(role)})"
        )
    if actor == requester:
        raise PermissionDenied(
            f"four-eyes: {actor} requested this correction and cannot approve or reject it; "
            "another lead must"
        )


def check_admin(actor: str, role: Role | None, action: str = "changes staff") -> None:
    if role is not Role.ADMIN:
        raise PermissionDenied(f"only an admin {action} ({actor} is {_described(role)})")


def _described(role: Role | None) -> str:
    if role is None:
        return "not on the staff"
    return f"{'a' if role is Role.LEAD else 'an'} {role}"

"""Roles, limits per currency, four-eyes, holds and staff changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing_desk.domain.corrections import Kind
from billing_desk.domain.errors import InvalidInput, PermissionDenied
from billing_desk.domain.policy import (
    Role,
    approval_needed,
    check_admin,
    check_may_decide,
    limit_minor,
    parse_role,
    require_staff,
)
from billing_desk.domain.settings import Settings

SETTINGS = Settings()


def needed(kind: Kind, role: Role, magnitude: int, code: str = "usd", **kw: object) -> str | None:
    return approval_needed(
        kind=kind,
        actor="ann",
        role=role,
        magnitude=magnitude,
        code=code,
        settings=SETTINGS,
        **kw,  # type: ignore[arg-type]
    )


def test_default_agent_limit_is_25_in_the_invoice_currency() -> None:
    assert limit_minor(SETTINGS, Role.AGENT, "usd") == 2_500
    assert limit_minor(SETTINGS, Role.AGENT, "jpy") == 25
    assert limit_minor(SETTINGS, Role.AGENT, "kwd") == 25_000


def test_per_currency_limits_override_the_star() -> None:
    settings = Settings(limits={"agent": {"*": Decimal("25"), "jpy": Decimal("3000")}})
    assert limit_minor(settings, Role.AGENT, "jpy") == 3_000
    assert limit_minor(settings, Role.AGENT, "eur") == 2_500
    assert limit_minor(settings, Role.LEAD, "eur") is None


@pytest.mark.parametrize("kind", [Kind.ADJUST, Kind.VOID, Kind.CREDIT, Kind.ONE_OFF, Kind.UNDO])
def test_money_kinds_wait_above_the_limit(kind: Kind) -> None:
    assert needed(kind, Role.AGENT, 2_500) is None
    reason = needed(kind, Role.AGENT, 2_501)
    assert reason == "its impact of 25.01 USD is above the agent limit of 25.00 USD"
    assert needed(kind, Role.LEAD, 10_000_000) is None


def test_a_role_without_a_limit_always_waits() -> None:
    settings = Settings(limits={"agent": {"usd": Decimal("25")}})
    reason = approval_needed(
        kind=Kind.CREDIT, actor="a", role=Role.AGENT, magnitude=1, code="eur", settings=settings
    )
    assert reason is not None
    assert "no limit for EUR" in reason


@pytest.mark.parametrize("role", list(Role))
def test_void_invoice_always_needs_a_lead(role: Role) -> None:
    assert needed(Kind.VOID_INVOICE, role, 0) == "void-invoice always needs a lead's approval"


def test_hold_applies_at_once_and_release_by_lead_or_placer() -> None:
    assert needed(Kind.HOLD, Role.AGENT, 0) is None
    assert needed(Kind.RELEASE, Role.AGENT, 0, hold_placed_by="ann") is None
    assert needed(Kind.RELEASE, Role.LEAD, 0, hold_placed_by="bob") is None
    assert needed(Kind.RELEASE, Role.AGENT, 0, hold_placed_by="bob") == (
        "the hold was placed by bob: releasing it needs a lead's approval"
    )


def test_four_eyes() -> None:
    check_may_decide("lee", Role.LEAD, "ann")
    check_may_decide("ada", Role.ADMIN, "ann")
    with pytest.raises(PermissionDenied, match="four-eyes: lee requested"):
        check_may_decide("lee", Role.LEAD, "lee")
    with pytest.raises(PermissionDenied, match=r"only a lead or an admin .*ann is an agent"):
        check_may_decide("ann", Role.AGENT, "bob")
    with pytest.raises(PermissionDenied, match="not on the staff"):
        check_may_decide("zed", None, "bob")


def test_staff_changes_are_for_admins() -> None:
    check_admin("ada", Role.ADMIN)
    with pytest.raises(PermissionDenied, match=r"only an admin changes staff \(lee is a lead\)"):
        check_admin("lee", Role.LEAD)


def test_unknown_people_and_roles_are_named() -> None:
    with pytest.raises(PermissionDenied, match="staff add zed --role agent"):
        require_staff("zed", None)
    assert require_staff("ann", Role.AGENT) is Role.AGENT
    assert parse_role("lead") is Role.LEAD
    with pytest.raises(InvalidInput, match="agent, lead, admin"):
        parse_role("boss")

"""Plain words for what went wrong, split the qutebrowser way: the environment or a bug.

`plain_error(exc)` gives one sentence saying what happened and what to do for failures of the
environment (the store locked or unreachable, Stripe down, a refused action); it returns None for
anything else, which is a bug and gets the crash dialog instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from billing_desk.domain.errors import BillingDeskError


def plain_error(exc: BaseException) -> str | None:
    if isinstance(exc, BillingDeskError):
        return _sentence(str(exc))
    if isinstance(exc, OperationalError | PoolTimeout):
        detail = str(getattr(exc, "orig", None) or "").strip().splitlines()
        reason = detail[0] if detail else "no answer"
        if "locked" in reason.lower():
            return "The store is busy (locked by another program); try again in a moment."
        return f"The store cannot be reached ({reason}); check the connection and try again."
    if isinstance(exc, DBAPIError):
        return "The store refused the request; try again, and report it if it keeps happening."
    if isinstance(exc, ConnectionError | TimeoutError):
        return "The network is unreachable; check the connection, the work will be retried."
    return None


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "The action failed."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def clock(moment: datetime) -> str:
    """A moment as the agent reads it: local time of day, with the date when not today."""
    local = moment.astimezone()
    now = datetime.now().astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")


def stale_notice(
    fetched_at: datetime | None, reason: str = "Stripe unreachable", *, will_retry: bool = True
) -> str:
    """What the customer view says when a refresh from Stripe failed:
    "Stripe unreachable: showing cached data from 10:42; will retry"."""
    then = "will retry" if will_retry else "press F5 to try again"
    reason = reason[:1].upper() + reason[1:]
    if fetched_at is None:
        return f"{reason}: no Stripe data cached for this customer yet; {then}."
    return f"{reason}: showing cached data from {clock(fetched_at)}; {then}."

"""How an operation ended this time, for the engine to record and count."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Status(enum.Enum):
    DONE = "done"  # settled and committed by the executor
    ADOPTED = "adopted"  # done: found already made in Stripe (a key past its 24 h window)
    SUPERSEDED = "superseded"  # nothing to send: a newer operation covers it
    ATTENTION = "needs_attention"  # a permanent Stripe error: a person must look
    RETRY = "retry"  # transient failure: back off and try again
    WAIT = "wait"  # a dependency is not met yet (the customer, the invoice, earlier pushes)
    BLOCKED = "blocked"  # a due finalization held back by a hold, a correction or drift
    NOT_DUE = "not_due"  # scheduled for later (a finalization before its grace ends)
    LOST = "lost"  # our lease was taken over: the other worker owns the outcome


@dataclass(frozen=True)
class Result:
    status: Status
    message: str | None = None
    # When to look at the operation again (WAIT, NOT_DUE); None: the engine's default.
    at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.status in (Status.DONE, Status.ADOPTED, Status.SUPERSEDED)


DONE = Result(Status.DONE)
ADOPTED = Result(Status.ADOPTED)
SUPERSEDED = Result(Status.SUPERSEDED)
LOST = Result(Status.LOST)

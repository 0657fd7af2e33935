"""What the sync panel shows: Stripe calls per endpoint per hour, errors, the call rate.

The engine's gateway reports every request here; counts are kept in memory and added to the
store at every heartbeat and at the end of a pass (`take().write(session)`), so statistics never
cost a write per request.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing_desk.store import sync_repo
from billing_desk.store.models.sync import SyncError
from billing_desk.stripe_gateway import StripeFailure
from billing_desk.sync.clock import Clock

MAX_PENDING_ERRORS = 1000


class CallStats:
    """Counts this worker's requests; also the gateway's `CallObserver`."""

    def __init__(
        self,
        worker: str,
        clock: Clock,
        on_backoff: Callable[[str, StripeFailure, float], None] | None = None,
    ) -> None:
        self._worker = worker
        self._clock = clock
        self._on_backoff = on_backoff
        self._counts: dict[tuple[datetime, str], tuple[int, int, int]] = {}
        self._errors: list[SyncError] = []
        self._recent: deque[float] = deque()
        self.calls = 0
        self.rate_limited = 0

    def on_call(self, endpoint: str, outcome: str, elapsed_s: float) -> None:
        hour = self._clock.now().replace(minute=0, second=0, microsecond=0)
        calls, errors, limited = self._counts.get((hour, endpoint), (0, 0, 0))
        failed = outcome != "ok"
        rate_limited = outcome == "rate_limited"
        self._counts[(hour, endpoint)] = (calls + 1, errors + failed, limited + rate_limited)
        self.calls += 1
        self.rate_limited += rate_limited
        self._recent.append(time.monotonic())

    def on_backoff(self, endpoint: str, failure: StripeFailure, delay_s: float) -> None:
        self.error(endpoint, "transient", failure.message)
        if self._on_backoff is not None:
            self._on_backoff(endpoint, failure, delay_s)

    def error(
        self,
        endpoint: str,
        severity: str,
        message: str,
        outbox_id: int | None = None,
        customer_id: str | None = None,
    ) -> None:
        if len(self._errors) >= MAX_PENDING_ERRORS:
            return  # an outage repeats one error; a thousand copies tell nothing more
        self._errors.append(
            SyncError(
                at=self._clock.now(),
                worker_id=self._worker,
                severity=severity,
                endpoint=endpoint,
                message=message,
                outbox_id=outbox_id,
                customer_id=customer_id,
            )
        )

    def calls_per_second(self, window_s: float = 5.0) -> float:
        now = time.monotonic()
        while self._recent and self._recent[0] < now - window_s:
            self._recent.popleft()
        return len(self._recent) / window_s

    def take(self) -> Gathered:
        """What was gathered since the last call, to be written (on any thread)."""
        gathered = Gathered(self._counts, self._errors)
        self._counts, self._errors = {}, []
        return gathered


@dataclass(frozen=True)
class Gathered:
    counts: dict[tuple[datetime, str], tuple[int, int, int]]
    errors: list[SyncError]

    def write(self, session: Session) -> None:
        sync_repo.record_api_calls(session, self.counts)
        sync_repo.record_errors(session, self.errors)

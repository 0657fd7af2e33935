"""Crash points for the reliability tests: `BILLING_DESK_TEST_KILL_AT` kills the worker there.

The variable names a step of an operation (`after_claim`, `before_send`,
`after_stripe_response`, `after_commit`), optionally with `@N` (die at the N-th time the
step is reached) or `%P` (die there with probability P each time). The process is killed with
SIGKILL, as a power cut or the OOM killer would: nothing gets to clean up. Unset, it costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import random
import signal

ENV = "BILLING_DESK_TEST_KILL_AT"
POINTS = ("after_claim", "before_send", "after_stripe_response", "after_commit")

_seen: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, int | None, float | None]:
    if "@" in spec:
        point, _, count = spec.partition("@")
        return point, int(count), None
    if "%" in spec:
        point, _, chance = spec.partition("%")
        return point, None, float(chance)
    return spec, 1, None


def kill_point(step: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    for part in spec.split(","):
        point, count, chance = _parse(part.strip())
        if point != step:
            continue
        _seen[step] = _seen.get(step, 0) + 1
        if (count is not None and _seen[step] == count) or (
            chance is not None and random.random() < chance
        ):
            os.kill(os.getpid(), signal.SIGKILL)

"""The sandbox's whole state: accounts (one per API key), the clock, faults, logs, snapshots.

Everything here runs on the server's event-loop thread; the HTTP layer (`app.py`) and the
demo seeder both go through `execute`, so seeded data obeys the same rules as API calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.errors import StripeError
from billing_desk.sandbox.faults import FaultConfig, TokenBucket
from billing_desk.sandbox.idempotency import IdempotencyStore
from billing_desk.sandbox.resources import events, invoices
from billing_desk.sandbox.routes import ROUTES, Route
from billing_desk.sandbox.schema import validate
from billing_desk.sandbox.state import Account, Obj

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "billing-desk-sandbox/1"
ACCOUNT_LOG_SIZE = 1000
SERVER_LOG_SIZE = 10000
KEY_PATTERN = re.compile(r"(?:sk|rk)_test_[A-Za-z0-9_]{1,240}")


def account_id_for(api_key: str) -> str:
    """A stable account id derived from the key (the key itself is never stored)."""
    return "acct_" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _seed_for(random_seed: int, account_id: str, purpose: str) -> int:
    digest = hashlib.sha256(f"{random_seed}:{account_id}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Router:
    """Path templates (`/v1/invoices/{invoice}`) matched by method, fixed paths first."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._by_method: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
        for route in routes:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path)
            self._by_method.setdefault(route.method, []).append((re.compile(pattern), route))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for pattern, route in self._by_method.get(method, ()):
            found = pattern.fullmatch(path)
            if found is not None:
                return route, found.groupdict()
        return None


ROUTER = Router(ROUTES)


@dataclass
class LogEntry:
    time: int
    account: str | None
    method: str
    path: str
    endpoint: str
    status: int
    request_id: str
    idempotency_key: str | None
    replayed: bool
    fault: str | None
    latency_ms: float  # injected on purpose (faults), as opposed to the time taken
    duration_ms: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class AccountRuntime:
    """One account's objects plus what the sandbox keeps per account to fake Stripe's edges."""

    def __init__(self, account: Account, fault_seed: int) -> None:
        self.account = account
        self.clock_offset = 0.0
        self.overrides: dict[str, Any] = {}
        self.config: FaultConfig | None = None  # cache of server config + overrides
        self.bucket = TokenBucket()
        self.locks: set[str] = set()
        self.idempotency = IdempotencyStore()
        self.faults = random.Random(fault_seed)
        self.log: deque[LogEntry] = deque(maxlen=ACCOUNT_LOG_SIZE)
        self.counts: Counter[str] = Counter()


class Sandbox:
    def __init__(
        self,
        config: FaultConfig | None = None,
        *,
        random_seed: int | None = None,
        seed: str = "none",
        state_file: Path | None = None,
    ) -> None:
        if seed not in ("none", "demo"):
            raise ValueError(f"unknown seed {seed!r}: use 'none' or 'demo'")
        self.config = config or FaultConfig()
        self.random_seed = random_seed if random_seed is not None else secrets.randbits(32)
        self.seed = seed
        self.state_file = state_file
        self.clock_offset = 0.0
        self.accounts: dict[str, AccountRuntime] = {}
        self.log: deque[LogEntry] = deque(maxlen=SERVER_LOG_SIZE)
        self.counts: Counter[str] = Counter()
        self.in_flight = 0  # Stripe requests being served right now, and the most at once
        self.peak_in_flight = 0
        self.base_url = "http://sandbox.invalid"  # the server's own address, once it is bound
        self._restored = state_file is not None and state_file.exists()
        if state_file is not None and self._restored:
            self.load(state_file)

    def open(self, base_url: str) -> None:
        """The server is listening at `base_url`: seed (unless state was restored), so seeded
        invoices' `hosted_invoice_url` point at it."""
        self.base_url = base_url
        if not self._restored:
            self._seed()

    def _seed(self) -> None:
        if self.seed == "demo":
            from billing_desk.sandbox.demo import seed_demo

            seed_demo(self)

    # accounts, time, config ---------------------------------------------------------------
    def runtime(self, account_id: str) -> AccountRuntime:
        found = self.accounts.get(account_id)
        if found is None:
            account = Account(account_id, _seed_for(self.random_seed, account_id, "ids"))
            found = AccountRuntime(account, _seed_for(self.random_seed, account_id, "faults"))
            self.accounts[account_id] = found
        return found

    def runtime_for_key(self, api_key: str) -> AccountRuntime:
        return self.runtime(account_id_for(api_key))

    def now(self, rt: AccountRuntime | None = None) -> float:
        offset = self.clock_offset + (rt.clock_offset if rt is not None else 0.0)
        return time.time() + offset

    def config_for(self, rt: AccountRuntime) -> FaultConfig:
        if rt.config is None:
            rt.config = self.config.updated(rt.overrides) if rt.overrides else self.config
        return rt.config

    def set_config(self, changes: dict[str, Any], rt: AccountRuntime | None) -> FaultConfig:
        """Change the server's faults, or one account's overrides (ValueError if invalid)."""
        if rt is None:
            self.config = self.config.updated(changes)
            for each in self.accounts.values():
                each.config = None
            return self.config
        self.config.updated({**rt.overrides, **changes})  # validates before storing
        rt.overrides.update(changes)
        rt.config = None
        return self.config_for(rt)

    # running an endpoint ------------------------------------------------------------------
    def execute(
        self,
        rt: AccountRuntime,
        route: Route,
        path_args: Mapping[str, str],
        params: dict[str, Any],
        *,
        request_id: str | None,
        idempotency_key: str | None,
        base_url: str,
    ) -> tuple[int, Obj]:
        """Run one validated request: (status, body), Stripe errors included."""
        now = int(self.now(rt))
        account = rt.account
        events.prune(account, now)
        call = Call(account, params, path_args, now, request_id, idempotency_key, base_url,
                    route.endpoint)  # fmt: skip
        try:
            if account.timers:
                invoices.run_scheduled(
                    Call(account, {}, {}, now, None, None, base_url, "automatic finalization")
                )
            return 200, route.handler(call)
        except StripeError as exc:
            return exc.status, exc.body(request_id)
        except Exception:
            log.exception("sandbox bug while serving %s", route.endpoint)
            error = StripeError(500, "An unknown error occurred in the sandbox.", type="api_error")
            return 500, error.body(request_id)

    def local(self, rt: AccountRuntime, method: str, path: str, params: dict[str, Any]) -> Obj:
        """Call an endpoint in-process (the demo seeder), with the API's validation."""
        matched = ROUTER.match(method, path)
        if matched is None:
            raise ValueError(f"no such endpoint: {method} {path}")
        route, args = matched
        checked = validate(route.params, _as_form(params))
        status, body = self.execute(
            rt, route, args, checked, request_id=None, idempotency_key=None,
            base_url=self.base_url,
        )  # fmt: skip
        if status != 200:
            raise StripeError(status, json.dumps(body))
        return body

    # inspection ---------------------------------------------------------------------------
    def record(self, rt: AccountRuntime | None, entry: LogEntry) -> None:
        self.log.append(entry)
        self.counts[entry.endpoint] += 1
        if rt is not None:
            rt.log.append(entry)
            rt.counts[entry.endpoint] += 1

    def reset(self, rt: AccountRuntime | None) -> None:
        """Forget one account (or everything, then seed again as at start)."""
        if rt is not None:
            del self.accounts[rt.account.id]
            return
        self.accounts.clear()
        self.log.clear()
        self.counts.clear()
        self.clock_offset = 0.0
        self._seed()

    # snapshot / restore -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "clock_offset": self.clock_offset,
            "random_seed": self.random_seed,
            "accounts": {
                account_id: {
                    "rng": _rng_state(rt.account.rng),
                    "faults_rng": _rng_state(rt.faults),
                    "clock_offset": rt.clock_offset,
                    "overrides": rt.overrides,
                    "objects": sorted(rt.account.objects.values(), key=lambda o: o["_seq"]),
                    "idempotency": rt.idempotency.to_json(),
                }
                for account_id, rt in self.accounts.items()
            },
        }

    def restore(self, data: dict[str, Any]) -> None:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a sandbox snapshot (expected format {SNAPSHOT_FORMAT})")
        accounts: dict[str, AccountRuntime] = {}
        for account_id, raw in data["accounts"].items():
            account = Account(account_id, 0)
            account.rng.setstate(_rng_from(raw["rng"]))
            account.objects = {o["id"]: o for o in raw["objects"]}
            account.reindex()
            rt = AccountRuntime(account, 0)
            rt.faults.setstate(_rng_from(raw["faults_rng"]))
            rt.clock_offset = raw["clock_offset"]
            rt.overrides = dict(raw["overrides"])
            rt.idempotency = IdempotencyStore.from_json(raw["idempotency"])
            accounts[account_id] = rt
        self.accounts = accounts
        self.clock_offset = data["clock_offset"]
        self.random_seed = data["random_seed"]

    def save(self, path: Path) -> None:
        """Write a snapshot atomically (a crash never leaves half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.snapshot()))
        partial.replace(path)

    def load(self, path: Path) -> None:
        self.restore(json.loads(path.read_text()))


def _as_form(value: Any) -> Any:
    """Python values as the strings, hashes and arrays a decoded form holds."""
    if isinstance(value, dict):
        return {str(k): _as_form(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_as_form(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from(raw: list[Any]) -> tuple[Any, ...]:
    return (raw[0], tuple(raw[1]), raw[2])

"""Stripe's failure modes in the sandbox: idempotency, rate limits, lock timeouts, latency,
injected 500s, dropped responses, outages, the clock, and the admin endpoints."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from billing_desk.sandbox import FaultConfig, SandboxAdmin, SandboxServer, new_test_key
from tests.conftest import StripeSandbox


def _post(
    http: httpx.Client, sandbox: StripeSandbox, path: str, data: dict[str, str], key: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return http.post(sandbox.url + path, data=data, headers=headers)


@pytest.fixture
def own_server() -> Iterator[SandboxServer]:
    """A server of its own, for tests that change server-wide settings."""
    with SandboxServer(random_seed=7) as server:
        yield server


# idempotency ------------------------------------------------------------------------------


def test_a_replayed_key_returns_the_identical_body(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    first = _post(http, stripe_sandbox, "/v1/customers", {"name": "Once"}, key)
    again = _post(http, stripe_sandbox, "/v1/customers", {"name": "Once"}, key)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    client = stripe_sandbox.client()
    assert len(client.v1.customers.list().data) == 1
    # Through stripe-python too: the same key creates one invoice item, not two.
    cus = first.json()["id"]
    options: stripe.RequestOptions = {"idempotency_key": "bd:line-1:v1"}
    params: stripe.params.InvoiceItemCreateParams = {
        "customer": cus,
        "amount": 100,
        "currency": "usd",
    }
    one = client.v1.invoice_items.create(params=params, options=options)
    two = client.v1.invoice_items.create(params=params, options=options)
    assert one.id == two.id
    assert len(client.v1.invoice_items.list().data) == 1


def test_a_different_body_under_the_same_key_is_refused(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    options: stripe.RequestOptions = {"idempotency_key": "same-key"}
    client.v1.customers.create(params={"name": "First"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"name": "Second"}, options=options)
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert raised.value.error.type == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.update(
            client.v1.customers.list().data[0].id, params={"name": "First"}, options=options
        )


def test_errors_are_stored_but_refusals_before_execution_are_not(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    failed = _post(http, stripe_sandbox, "/v1/invoices/in_missing/finalize", {}, "k-error")
    assert failed.status_code == 404
    replay = _post(http, stripe_sandbox, "/v1/invoices/in_missing/finalize", {}, "k-error")
    assert replay.content == failed.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    # An unknown parameter never reaches the endpoint: the key stays free.
    refused = _post(http, stripe_sandbox, "/v1/customers", {"nmae": "typo"}, "k-invalid")
    assert refused.json()["error"]["code"] == "parameter_unknown"
    fixed = _post(http, stripe_sandbox, "/v1/customers", {"name": "fixed"}, "k-invalid")
    assert fixed.status_code == 200
    assert "Idempotent-Replayed" not in fixed.headers


def test_keys_are_pruned_after_24_hours_of_sandbox_time(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    first = _post(http, stripe_sandbox, "/v1/customers", {"name": "Day one"}, "daily")
    stripe_sandbox.admin.advance_clock(23 * 3600)
    assert (
        _post(http, stripe_sandbox, "/v1/customers", {"name": "Other"}, "daily").status_code == 400
    )
    stripe_sandbox.admin.advance_clock(3600)
    later = _post(http, stripe_sandbox, "/v1/customers", {"name": "Other"}, "daily")
    assert later.status_code == 200
    assert later.json()["id"] != first.json()["id"]


def test_concurrent_use_of_one_key_is_a_conflict(stripe_sandbox: StripeSandbox) -> None:
    stripe_sandbox.admin.configure(latency_ms=300, latency_jitter_ms=0)

    async def both() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {stripe_sandbox.api_key}", "Idempotency-Key": "k"}
        async with httpx.AsyncClient(base_url=stripe_sandbox.url, headers=headers) as http:
            first = asyncio.create_task(http.post("/v1/customers", data={"name": "A"}))
            await asyncio.sleep(0.1)
            second = await http.post("/v1/customers", data={"name": "A"})
            return [await first, second]

    first, second = asyncio.run(both())
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_in_use"


# rate limit, locks, latency ---------------------------------------------------------------


def test_429_appears_above_the_rate_and_never_below_it(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    stripe_sandbox.admin.configure(rate_limit=10)
    for _ in range(10):  # a full second's worth at once never exceeds the rate
        client.v1.customers.list()

    def above_the_rate() -> None:
        for _ in range(200):
            client.v1.customers.list()

    with pytest.raises(stripe.RateLimitError) as raised:
        above_the_rate()
    assert raised.value.http_status == 429
    assert raised.value.error is not None
    assert raised.value.error.code == "rate_limit"
    assert raised.value.headers is not None
    assert "Stripe-Should-Retry" not in raised.value.headers
    faults = [r["fault"] for r in stripe_sandbox.admin.requests(limit=300)]
    assert faults.count("rate_limit") >= 1
    assert "rate_limit" not in faults[-10:]  # the first 10 (oldest) all went through


def test_each_account_has_its_own_rate_bucket(stripe_sandbox: StripeSandbox) -> None:
    stripe_sandbox.admin.configure(rate_limit=1)
    client = stripe_sandbox.client()
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    other = stripe.StripeClient(
        new_test_key(), base_addresses={"api": stripe_sandbox.url}, max_network_retries=0
    )
    for _ in range(5):
        other.v1.customers.list()


def test_concurrent_writes_to_one_object_hit_a_lock_timeout(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client(http_client=stripe.HTTPXClient())
    setup = stripe_sandbox.client()
    cus = setup.v1.customers.create(params={"name": "Contended"})
    spare = setup.v1.customers.create(params={"name": "Elsewhere"})
    stripe_sandbox.admin.configure(latency_ms=300, latency_jitter_ms=0)

    async def race() -> list[object]:
        first = asyncio.create_task(
            client.v1.customers.update_async(cus.id, params={"name": "One"})
        )
        await asyncio.sleep(0.1)
        results = await asyncio.gather(
            client.v1.customers.update_async(cus.id, params={"name": "Two"}),
            client.v1.customers.update_async(spare.id, params={"name": "Fine"}),
            return_exceptions=True,
        )
        return [await first, *results]

    first, contended, elsewhere = asyncio.run(race())
    assert isinstance(first, stripe.Customer)
    assert isinstance(elsewhere, stripe.Customer)
    assert isinstance(contended, stripe.RateLimitError)
    assert contended.error is not None
    assert contended.error.code == "lock_timeout"
    assert contended.headers is not None
    assert contended.headers["Stripe-Should-Retry"] == "true"


def test_latency_is_injected(stripe_sandbox: StripeSandbox) -> None:
    stripe_sandbox.admin.configure(latency_ms=120, latency_jitter_ms=20)
    client = stripe_sandbox.client()
    for _ in range(3):
        client.v1.customers.list()
    injected = [r["latency_ms"] for r in stripe_sandbox.admin.requests(limit=3)]
    assert all(100 <= ms <= 140 for ms in injected), injected


# injected failures ------------------------------------------------------------------------


def test_fail_rate_answers_500_before_anything_is_applied(stripe_sandbox: StripeSandbox) -> None:
    stripe_sandbox.admin.configure(fail_rate=1.0)
    client = stripe_sandbox.client()
    options: stripe.RequestOptions = {"idempotency_key": "retry-me"}
    with pytest.raises(stripe.APIError) as raised:
        client.v1.customers.create(params={"name": "Lost?"}, options=options)
    assert raised.value.http_status == 500
    stripe_sandbox.admin.configure(fail_rate=0.0)
    assert client.v1.customers.list().data == []
    # Nothing was stored under the key, so the retry runs for real.
    created = client.v1.customers.create(params={"name": "Lost?"}, options=options)
    assert client.v1.customers.list().data[0].id == created.id


def test_failures_follow_the_random_seed(http: httpx.Client) -> None:
    key = new_test_key()

    def pattern() -> list[int]:
        with SandboxServer(random_seed=1234, faults=FaultConfig(fail_rate=0.5)) as server:
            statuses = []
            for _ in range(30):
                response = http.get(
                    f"{server.url}/v1/customers", headers={"Authorization": f"Bearer {key}"}
                )
                statuses.append(response.status_code)
            return statuses

    first = pattern()
    assert set(first) == {200, 500}
    assert pattern() == first


def test_a_dropped_after_commit_write_is_visible_on_the_next_read(
    stripe_sandbox: StripeSandbox,
) -> None:
    stripe_sandbox.admin.configure(drop_after_commit_rate=1.0)
    client = stripe_sandbox.client()
    options: stripe.RequestOptions = {"idempotency_key": "dropped-1"}
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params={"name": "Committed"}, options=options)
    stripe_sandbox.admin.configure(drop_after_commit_rate=0.0)
    listed = client.v1.customers.list().data
    assert [c.name for c in listed] == ["Committed"]
    # The retry with the same key gets the answer that was lost.
    retried = client.v1.customers.create(params={"name": "Committed"}, options=options)
    assert retried.id == listed[0].id
    assert retried.last_response is not None
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert stripe_sandbox.admin.requests(limit=3)[-1]["fault"] == "drop"


def test_outage_switch(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    stripe_sandbox.admin.configure(outage=True)
    with pytest.raises(stripe.APIError) as raised:
        client.v1.customers.list()
    assert raised.value.http_status == 503
    stripe_sandbox.admin.configure(outage=False)
    assert client.v1.customers.list().data == []


def test_faults_set_for_one_account_leave_others_alone(stripe_sandbox: StripeSandbox) -> None:
    stripe_sandbox.admin.configure(outage=True)
    other = SandboxAdmin(stripe_sandbox.url, new_test_key())
    assert other.config()["outage"] is False
    assert stripe_sandbox.admin.config()["outage"] is True
    with pytest.raises(Exception, match="unknown setting"):
        stripe_sandbox.admin.configure(colour="red")
    with pytest.raises(Exception, match="between 0 and 1"):
        stripe_sandbox.admin.configure(fail_rate=2)


def test_server_wide_faults_apply_to_every_account(
    own_server: SandboxServer, http: httpx.Client
) -> None:
    admin = SandboxAdmin(own_server.url)
    admin.configure(outage=True)
    response = http.get(
        f"{own_server.url}/v1/customers", headers={"Authorization": f"Bearer {new_test_key()}"}
    )
    assert response.status_code == 503
    assert admin.config()["random_seed"] == 7


# clock, inspection, reset, snapshots ------------------------------------------------------


def test_events_are_kept_30_days_of_sandbox_time(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    client.v1.customers.create(params={"name": "Old news"})
    event = client.v1.events.list().data[0]
    stripe_sandbox.admin.advance_clock(29 * 86400)
    assert client.v1.events.retrieve(event.id).id == event.id
    stripe_sandbox.admin.advance_clock(2 * 86400)
    assert client.v1.events.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event.id)


def test_request_log_counts_and_reset(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    cus = client.v1.customers.create(params={"name": "Counted"})
    client.v1.customers.retrieve(cus.id)
    client.v1.customers.retrieve(cus.id)
    counts = stripe_sandbox.admin.counts()
    assert counts == {"POST /v1/customers": 1, "GET /v1/customers/{customer}": 2}
    newest = stripe_sandbox.admin.requests(limit=1)[0]
    assert (newest["method"], newest["path"], newest["status"]) == (
        "GET",
        f"/v1/customers/{cus.id}",
        200,
    )
    stripe_sandbox.admin.reset()
    assert client.v1.customers.list().data == []
    with pytest.raises(Exception, match="only moves forward"):
        stripe_sandbox.admin.advance_clock(-5)


def test_snapshot_and_restore_to_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "sandbox-state.json"
    key = new_test_key()
    with SandboxServer(state_file=state) as server:
        client = stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=0)
        kept = client.v1.customers.create(
            params={"name": "Kept"}, options={"idempotency_key": "k1"}
        )
        SandboxAdmin(server.url).snapshot()
        client.v1.customers.create(params={"name": "Forgotten"})
        SandboxAdmin(server.url).restore()
        assert [c.id for c in client.v1.customers.list().data] == [kept.id]
        client.v1.customers.create(params={"name": "Saved at stop"})
    with SandboxServer(state_file=state) as server:
        client = stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=0)
        names = [c.name for c in client.v1.customers.list().data]
        assert names == ["Saved at stop", "Kept"]
        again = client.v1.customers.create(
            params={"name": "Kept"}, options={"idempotency_key": "k1"}
        )
        assert again.id == kept.id
        assert (
            SandboxAdmin(server.url).snapshot(str(tmp_path / "other.json")).endswith("other.json")
        )


def test_hosted_invoice_url_serves_a_page(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    client = stripe_sandbox.client()
    cus = client.v1.customers.create(params={"name": "Hosted"})
    draft = client.v1.invoices.create(params={"customer": cus.id, "currency": "eur"})
    client.v1.invoice_items.create(
        params={"customer": cus.id, "amount": 4200, "currency": "eur", "invoice": draft.id}
    )
    opened = client.v1.invoices.finalize_invoice(draft.id)
    page = http.get(opened.hosted_invoice_url)
    assert page.status_code == 200
    assert opened.number in page.text
    assert "EUR" in page.text

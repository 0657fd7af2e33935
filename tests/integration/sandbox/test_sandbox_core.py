"""The sandbox's core, through stripe-python's sync client: auth, parameters, errors,
customers, invoice items, events."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.conftest import StripeSandbox


def test_unknown_key_shapes_are_refused_with_401(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    for header in ({}, {"Authorization": "Bearer sk_live_abc"}, {"Authorization": "Token x"}):
        response = http.get(f"{stripe_sandbox.url}/v1/customers", headers=header)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "sk_live_abc" not in error["message"]
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "pk_test_nope", base_addresses={"api": stripe_sandbox.url}, max_network_retries=0
        ).v1.customers.list()


def test_restricted_and_basic_auth_keys_are_accepted(
    stripe_sandbox: StripeSandbox, http: httpx.Client
) -> None:
    response = http.get(f"{stripe_sandbox.url}/v1/customers", auth=("rk_test_abc123", ""))
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_each_key_is_its_own_account(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    customer = client.v1.customers.create(params={"name": "Only Mine"})
    other = stripe.StripeClient(
        "sk_test_someoneelse" + stripe_sandbox.api_key[-8:],
        base_addresses={"api": stripe_sandbox.url},
        max_network_retries=0,
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        other.v1.customers.retrieve(customer.id)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


def test_unknown_parameters_are_judged_by_stripe_python_params(
    stripe_sandbox: StripeSandbox,
) -> None:
    client = stripe_sandbox.client()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"nmae": "typo"})  # type: ignore[typeddict-unknown-key]
    assert (raised.value.http_status, raised.value.code) == (400, "parameter_unknown")
    assert raised.value.param == "nmae"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.create(
            params={"customer": "cus_x", "lines": [{"amount": 1}]}  # type: ignore[typeddict-unknown-key]
        )
    assert raised.value.code == "parameter_unknown"


def test_bad_values_name_the_parameter(stripe_sandbox: StripeSandbox, http: httpx.Client) -> None:
    url, key = stripe_sandbox.url, stripe_sandbox.api_key
    headers = {"Authorization": f"Bearer {key}"}
    cases = [
        ("GET", "/v1/customers?limit=ten", None, "parameter_invalid_integer", "limit"),
        ("POST", "/v1/invoiceitems", {"currency": "usd"}, "parameter_missing", "customer"),
        ("POST", "/v1/invoices/in_x/add_lines", {}, "parameter_missing", "lines"),
        ("POST", "/v1/invoiceitems", {"amount": ""}, "parameter_invalid_empty", "amount"),
        ("POST", "/v1/customers", {"metadata[a][b]": "c"}, None, "metadata[a]"),
        ("GET", "/v1/invoices?status=opened", None, None, "status"),
    ]
    for method, path, body, code, param in cases:
        response = http.request(method, url + path, data=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error.get("code") == code, (path, error)
        assert error["param"] == param, (path, error)


def test_unrecognized_url_is_stripes_404(stripe_sandbox: StripeSandbox, http: httpx.Client) -> None:
    response = http.get(
        f"{stripe_sandbox.url}/v1/charges",
        headers={"Authorization": f"Bearer {stripe_sandbox.api_key}"},
    )
    assert response.status_code == 404
    assert "Unrecognized request URL (GET: /v1/charges)" in response.json()["error"]["message"]


def test_customer_lifecycle(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    created = client.v1.customers.create(
        params={
            "name": "Acme Rockets",
            "email": "billing@acme.test",
            "metadata": {"billing_desk_customer": "acme-001"},
        }
    )
    assert isinstance(created, stripe.Customer)
    assert created.id.startswith("cus_")
    assert created.metadata["billing_desk_customer"] == "acme-001"
    updated = client.v1.customers.update(
        created.id, params={"email": "ap@acme.test", "metadata": {"billing_desk_customer": ""}}
    )
    assert updated.email == "ap@acme.test"
    assert updated.metadata.to_dict() == {}
    assert client.v1.customers.retrieve(created.id).email == "ap@acme.test"
    deleted = client.v1.customers.delete(created.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(created.id).deleted is True
    assert client.v1.customers.list().data == []


def test_customer_list_paginates_newest_first_and_filters_by_email(
    stripe_sandbox: StripeSandbox,
) -> None:
    client = stripe_sandbox.client()
    ids = [client.v1.customers.create(params={"email": f"c{n}@example.test"}).id for n in range(7)]
    first = client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in first.data] == ids[::-1][:3]
    assert first.has_more is True
    second = client.v1.customers.list(params={"limit": 3, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == ids[::-1][3:6]
    back = client.v1.customers.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == ids[::-1][1:3]
    assert [c.id for c in first.auto_paging_iter()] == ids[::-1]
    only = client.v1.customers.list(params={"email": "c4@example.test"})
    assert [c.id for c in only.data] == [ids[4]]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params={"starting_after": "cus_unknown"})
    assert raised.value.param == "starting_after"


def test_invoice_items_crud_and_filters(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    customer = client.v1.customers.create(params={"name": "Items"})
    plain = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 1999, "currency": "usd", "description": "A"}
    )
    assert isinstance(plain, stripe.InvoiceItem)
    assert (plain.amount, plain.quantity, plain.invoice) == (1999, 1, None)
    decimal = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "quantity_decimal": "2.5",
            "unit_amount_decimal": "100.25",
            "metadata": {"billing_desk_line": "L1", "billing_desk_version": "1"},
        }
    )
    assert decimal.amount == 251  # 250.625 rounded half up
    assert decimal.currency == "usd"  # the customer's currency, fixed by the first item
    credit = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": -500, "currency": "usd"}
    )
    assert credit.amount == -500
    assert credit.discountable is False
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create(
            params={"customer": customer.id, "amount": 5, "currency": "eur"}
        )
    assert raised.value.param == "currency"
    updated = client.v1.invoice_items.update(decimal.id, params={"quantity_decimal": "3"})
    assert updated.amount == 301  # 300.75
    pending = client.v1.invoice_items.list(params={"customer": customer.id, "pending": True})
    assert [i.id for i in pending.data] == [credit.id, decimal.id, plain.id]
    assert client.v1.invoice_items.delete(credit.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.retrieve(credit.id)
    assert raised.value.http_status == 404


def test_events_record_each_change_newest_first(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    customer = client.v1.customers.create(params={"name": "Evented"})
    client.v1.customers.update(customer.id, params={"name": "Renamed"})
    events = client.v1.events.list()
    assert [e.type for e in events.data] == ["customer.updated", "customer.created"]
    updated = events.data[0]
    assert isinstance(updated, stripe.Event)
    assert updated.data.object["name"] == "Renamed"
    assert updated.data.previous_attributes.to_dict() == {"name": "Evented"}
    assert client.v1.events.retrieve(updated.id).id == updated.id
    only = client.v1.events.list(params={"type": "customer.created"})
    assert [e.type for e in only.data] == ["customer.created"]
    both = client.v1.events.list(params={"types": ["customer.*"]})
    assert len(both.data) == 2

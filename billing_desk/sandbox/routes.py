"""The Stripe endpoints served: path, the stripe-python params TypedDict judging the request,
the handler, and which objects a write locks (for Stripe's `lock_timeout`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.resources import credit_notes, customers, events, invoice_items, invoices
from billing_desk.sandbox.state import Obj


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: str
    handler: Callable[[Call], Obj]
    locks: tuple[str, ...] = ()  # path parts or body params naming the objects written

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def writes(self) -> bool:
        return self.method != "GET"


def _r(method: str, path: str, params: str, handler: Callable[[Call], Obj], *locks: str) -> Route:
    return Route(method, path, params, handler, locks)


CUS = "/v1/customers/{customer}"
TXN = CUS + "/balance_transactions"
INV = "/v1/invoices/{invoice}"
CN = "/v1/credit_notes/{credit_note}"

# Fixed paths come before parametrized ones (`/search` is not a customer id).
ROUTES: tuple[Route, ...] = (
    _r("GET", "/v1/customers/search", "CustomerSearchParams", customers.search),
    _r("POST", "/v1/customers", "CustomerCreateParams", customers.create),
    _r("GET", "/v1/customers", "CustomerListParams", customers.list_),
    _r("GET", CUS, "CustomerRetrieveParams", customers.retrieve),
    _r("POST", CUS, "CustomerUpdateParams", customers.update, "customer"),
    _r("DELETE", CUS, "CustomerDeleteParams", customers.delete, "customer"),
    _r("POST", TXN, "CustomerBalanceTransactionCreateParams", customers.create_transaction,
       "customer"),
    _r("GET", TXN, "CustomerBalanceTransactionListParams", customers.list_transactions),
    _r("GET", TXN + "/{transaction}", "CustomerBalanceTransactionRetrieveParams",
       customers.retrieve_transaction),
    _r("POST", TXN + "/{transaction}", "CustomerBalanceTransactionUpdateParams",
       customers.update_transaction, "transaction"),
    _r("POST", "/v1/invoiceitems", "InvoiceItemCreateParams", invoice_items.create, "invoice"),
    _r("GET", "/v1/invoiceitems", "InvoiceItemListParams", invoice_items.list_),
    _r("GET", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemRetrieveParams",
       invoice_items.retrieve),
    _r("POST", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemUpdateParams",
       invoice_items.update, "invoiceitem"),
    _r("DELETE", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemDeleteParams",
       invoice_items.delete, "invoiceitem"),
    _r("GET", "/v1/invoices/search", "InvoiceSearchParams", invoices.search),
    _r("POST", "/v1/invoices/create_preview", "InvoiceCreatePreviewParams",
       invoices.create_preview),
    _r("POST", "/v1/invoices", "InvoiceCreateParams", invoices.create),
    _r("GET", "/v1/invoices", "InvoiceListParams", invoices.list_),
    _r("GET", INV, "InvoiceRetrieveParams", invoices.retrieve),
    _r("POST", INV, "InvoiceUpdateParams", invoices.update, "invoice"),
    _r("DELETE", INV, "InvoiceDeleteParams", invoices.delete, "invoice"),
    _r("POST", INV + "/finalize", "InvoiceFinalizeInvoiceParams", invoices.finalize, "invoice"),
    _r("POST", INV + "/void", "InvoiceVoidInvoiceParams", invoices.void, "invoice"),
    _r("POST", INV + "/pay", "InvoicePayParams", invoices.pay, "invoice"),
    _r("POST", INV + "/mark_uncollectible", "InvoiceMarkUncollectibleParams",
       invoices.mark_uncollectible, "invoice"),
    _r("POST", INV + "/add_lines", "InvoiceAddLinesParams", invoices.add_lines, "invoice"),
    _r("POST", INV + "/update_lines", "InvoiceUpdateLinesParams", invoices.update_lines,
       "invoice"),
    _r("POST", INV + "/remove_lines", "InvoiceRemoveLinesParams", invoices.remove_lines,
       "invoice"),
    _r("GET", INV + "/lines", "InvoiceLineItemListParams", invoices.list_lines),
    _r("POST", INV + "/lines/{line_item_id}", "InvoiceLineItemUpdateParams",
       invoices.update_line, "invoice"),
    _r("GET", "/v1/credit_notes/preview/lines", "CreditNotePreviewLinesListParams",
       credit_notes.preview_lines),
    _r("GET", "/v1/credit_notes/preview", "CreditNotePreviewParams", credit_notes.preview),
    _r("POST", "/v1/credit_notes", "CreditNoteCreateParams", credit_notes.create, "invoice"),
    _r("GET", "/v1/credit_notes", "CreditNoteListParams", credit_notes.list_),
    _r("GET", CN, "CreditNoteRetrieveParams", credit_notes.retrieve),
    _r("POST", CN, "CreditNoteUpdateParams", credit_notes.update, "credit_note"),
    _r("POST", CN + "/void", "CreditNoteVoidCreditNoteParams", credit_notes.void, "credit_note"),
    _r("GET", CN + "/lines", "CreditNoteLineItemListParams", credit_notes.list_lines),
    _r("GET", "/v1/events", "EventListParams", events.list_),
    _r("GET", "/v1/events/{id}", "EventRetrieveParams", events.retrieve),
)  # fmt: skip

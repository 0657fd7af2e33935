"""Stripe's search query language for customers and invoices.

Supported: `field:value` (exact, case-insensitive), `field~value` (substring, 3+ characters),
`field>n`, `<`, `>=`, `<=` on numbers, `-` to negate, `null`, `metadata['key']:'value'`,
and clauses joined all by `AND` or all by `OR` (Stripe refuses mixing them). Results come
newest first with Stripe's `search_result` page shape (`page` = the `next_page` token).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billing_desk.sandbox.errors import invalid

if TYPE_CHECKING:
    from billing_desk.sandbox.call import Call
    from billing_desk.sandbox.state import Obj

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<connector>AND|OR)(?=\s)
      | (?P<clause>
          (?P<neg>-)?
          (?P<field>metadata\[(?P<mq>['"])(?P<mkey>.*?)(?P=mq)\]|[a-z_]+)
          (?P<op>>=|<=|:|~|>|<)
          (?:(?P<q>['"])(?P<qvalue>.*?)(?P=q)|(?P<bare>[^\s'"]+))
        )
    )""",
    re.VERBOSE,
)

FIELDS: dict[str, dict[str, Callable[[Obj], Any]]] = {
    "customer": {
        "created": lambda o: o["created"],
        "email": lambda o: o["email"],
        "name": lambda o: o["name"],
        "phone": lambda o: o["phone"],
    },
    "invoice": {
        "created": lambda o: o["created"],
        "currency": lambda o: o["currency"],
        "customer": lambda o: o["customer"],
        "number": lambda o: o["number"],
        "receipt_number": lambda o: o["receipt_number"],
        "status": lambda o: o["status"],
        "subscription": lambda o: None,
        "total": lambda o: o["total"],
    },
}


@dataclass(frozen=True)
class Clause:
    getter: Callable[[Obj], Any]
    op: str
    value: str | None
    negate: bool

    def matches(self, obj: Obj) -> bool:
        return self._test(self.getter(obj)) != self.negate

    def _test(self, actual: Any) -> bool:
        if self.value is None:
            return actual is None if self.op == ":" else False
        if actual is None:
            return False
        if self.op in (">", "<", ">=", "<="):
            if not isinstance(actual, int):
                return False
            bound = int(self.value)
            return {
                ">": actual > bound,
                "<": actual < bound,
                ">=": actual >= bound,
                "<=": actual <= bound,
            }[self.op]
        text = str(actual).lower()
        wanted = self.value.lower()
        return wanted in text if self.op == "~" else text == wanted


def parse(kind: str, query: str) -> Callable[[Obj], bool]:
    """Compile a query into a predicate, or raise a 400 naming what is wrong."""
    fields = FIELDS[kind]
    clauses: list[Clause] = []
    connectors: set[str] = set()
    position = 0
    expect_clause = True
    text = query.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _bad(query, f"unexpected text at position {position}")
        position = match.end()
        if match.group("connector"):
            if expect_clause:
                raise _bad(query, f"{match.group('connector')} must join two clauses")
            connectors.add(match.group("connector"))
            expect_clause = True
            continue
        if not expect_clause:
            raise _bad(query, "clauses must be joined by AND or OR")
        clauses.append(_clause(kind, fields, match, query))
        expect_clause = False
    if not clauses or expect_clause:
        raise _bad(query, "the query is empty or ends with a connector")
    if len(connectors) > 1:
        raise _bad(query, "AND and OR can't be combined in one query")
    if connectors == {"OR"}:
        return lambda obj: any(c.matches(obj) for c in clauses)
    return lambda obj: all(c.matches(obj) for c in clauses)


def _clause(
    kind: str, fields: dict[str, Callable[[Obj], Any]], match: re.Match[str], query: str
) -> Clause:
    field = match.group("field")
    op = match.group("op")
    quoted = match.group("qvalue")
    bare = match.group("bare")
    value: str | None = quoted if quoted is not None else bare
    if quoted is None and bare == "null":
        value = None
    getter: Callable[[Obj], Any]
    if match.group("mkey") is not None:
        key = match.group("mkey")

        def getter(obj: Obj) -> Any:
            return (obj.get("metadata") or {}).get(key)

    elif field in fields:
        getter = fields[field]
    else:
        raise _bad(query, f"{field} is not a searchable field of {kind}s")
    if op in (">", "<", ">=", "<="):
        if value is None or not re.fullmatch(r"-?\d+", value):
            raise _bad(query, f"{field}{op} needs a whole number")
    elif quoted is None and value is not None and not re.fullmatch(r"-?\d+", value):
        raise _bad(query, f"the value for {field} must be quoted")
    if op == "~" and (value is None or len(value) < 3):
        raise _bad(query, f"{field}~ needs at least 3 characters")
    return Clause(getter, op, value, match.group("neg") is not None)


def _bad(query: str, why: str) -> Exception:
    return invalid(f"Invalid search query {query!r}: {why}.", param="query")


def search_response(call: Call, kind: str, url: str) -> Obj:
    params = call.params
    predicate = parse(kind, params["query"])
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", param="limit")
    page = params.get("page") or ""
    offset = 0
    if page:
        if not re.fullmatch(r"page_\d+", page):
            raise invalid(f"Invalid page: {page}", param="page")
        offset = int(page[5:])
    account = call.account
    ids = account.ix.of(kind)
    matched: list[Obj] = []
    skipped = 0
    has_more = False
    for object_id in reversed(list(ids.ascending())):
        obj = account.objects[object_id]
        if not predicate(obj):
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(matched) == limit:
            has_more = True
            break
        matched.append(obj)
    rendered: Obj = {
        "object": "search_result",
        "data": [account.render(o) for o in matched],
        "has_more": has_more,
        "next_page": f"page_{offset + limit}" if has_more else None,
        "url": url,
    }
    expand = params.get("expand")
    if expand:
        account.expand(rendered, expand)
    return rendered

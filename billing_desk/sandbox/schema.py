"""Request validation judged by stripe-python's own typed parameters (`stripe.params`).

Each endpoint names the TypedDict stripe-python 16 uses for it (e.g. `InvoiceCreateParams`).
Its annotations, walked recursively with `typing.get_type_hints`, become a small schema tree
that checks and converts a decoded form: unknown parameters are `parameter_unknown`, absent
required ones `parameter_missing`, bad integers `parameter_invalid_integer`, an empty string
for a non-text value whose type has no `Literal['']` (Stripe's "unset") is
`parameter_invalid_empty` (free text may be blank), and a
value outside a `Literal[...]` is refused with the allowed values named.
"""

from __future__ import annotations

import threading
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import stripe.params
from stripe._request_options import RequestOptions
from typing_extensions import is_typeddict

from billing_desk.sandbox.errors import StripeError, invalid
from billing_desk.sandbox.forms import FormValue

# Keys every params TypedDict inherits for the client's own use; they never reach the wire.
_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)
# Names RequestOptions' own annotations use but a subclass's module may not import.
_OPTION_NAMES: dict[str, Any] = {"StripeContext": object, "Mapping": Mapping}
_SCALARS: dict[object, str] = {str: "str", int: "int", bool: "bool", Decimal: "decimal"}


class Node:
    """A schema node: converts one decoded form value or raises a 400 in Stripe's shape."""

    def coerce(self, value: FormValue, path: str) -> Any:
        raise NotImplementedError


class AnyNode(Node):
    def coerce(self, value: FormValue, path: str) -> Any:
        return value


class ScalarNode(Node):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def coerce(self, value: FormValue, path: str) -> Any:
        if not isinstance(value, str):
            raise invalid(f"Invalid {self.kind}: {path} must be a single value", param=path)
        if self.kind == "str":
            return value
        if value == "":
            raise _empty(path)
        if self.kind == "int":
            return _parse_int(value, path)
        if self.kind == "bool":
            if value not in ("true", "false"):
                raise invalid(f"Invalid boolean: {value}", param=path)
            return value == "true"
        return _parse_decimal(value, path)


class MapNode(Node):
    """`Dict[str, str]` (metadata): string values; an empty value unsets that key."""

    def coerce(self, value: FormValue, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {path} must be a hash", param=path)
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid(
                    f"Invalid string: {path}[{key}] must be a string", param=f"{path}[{key}]"
                )
            out[key] = item
        return out


class ListNode(Node):
    def __init__(self, item: Node) -> None:
        self.item = item

    def coerce(self, value: FormValue, path: str) -> Any:
        if isinstance(value, dict):
            try:
                ordered = sorted(value.items(), key=lambda kv: int(kv[0]))
            except ValueError:
                raise invalid(f"Invalid array: {path} must be an array", param=path) from None
            items = [(int(k), v) for k, v in ordered]
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            raise invalid(f"Invalid array: {path} must be an array", param=path)
        return [self.item.coerce(v, f"{path}[{i}]") for i, v in items]


class ObjectNode(Node):
    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, Node] = {}
        self.required: frozenset[str] = frozenset()

    def coerce(self, value: FormValue, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {path} must be a hash", param=path)
        return self.coerce_fields(value, f"{path}[{{}}]")

    def coerce_fields(self, value: Mapping[str, FormValue], pattern: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            node = self.fields.get(key)
            sub = pattern.format(key)
            if node is None:
                raise StripeError(
                    400, f"Received unknown parameter: {sub}", code="parameter_unknown", param=sub
                )
            out[key] = node.coerce(item, sub)
        for key in self.required:
            if key not in value:
                sub = pattern.format(key)
                raise StripeError(
                    400, f"Missing required param: {sub}.", code="parameter_missing", param=sub
                )
        return out


class UnionNode(Node):
    """Alternatives of one parameter, chosen by the shape of the value (string, hash, array)."""

    def __init__(self, options: list[Node], literals: list[str], empty_ok: bool) -> None:
        self.literals = literals
        self.empty_ok = empty_ok
        self.scalars = [o for o in options if isinstance(o, ScalarNode)]
        self.hashes = [o for o in options if isinstance(o, ObjectNode | MapNode | ListNode)]
        self.arrays = [o for o in options if isinstance(o, ListNode)]
        self.any = any(isinstance(o, AnyNode) for o in options)

    def coerce(self, value: FormValue, path: str) -> Any:
        if isinstance(value, str):
            return self._scalar(value, path)
        candidates = self.arrays if isinstance(value, list) else self.hashes
        if candidates:
            return candidates[0].coerce(value, path)
        if self.any:
            return value
        raise invalid(
            f"Invalid value: {path} must be a single value, not a hash or array", param=path
        )

    def _scalar(self, value: str, path: str) -> Any:
        if value == "":
            if self.empty_ok or (not self.literals and any(s.kind == "str" for s in self.scalars)):
                return ""
            raise _empty(path)
        if value in self.literals:
            return value
        kinds = [s.kind for s in self.scalars]
        if self.literals and ("str" in kinds or not kinds):
            allowed = ", ".join(self.literals)
            raise invalid(f"Invalid {path}: must be one of {allowed}", param=path)
        for kind in ("int", "decimal", "bool", "str"):
            if kind in kinds:
                if kind == "int" and not _is_int(value) and len(kinds) > 1:
                    continue
                return ScalarNode(kind).coerce(value, path)
        if self.any:
            return value
        raise invalid(f"Invalid object: {path} must be a hash", param=path)


def _empty(path: str) -> StripeError:
    return StripeError(
        400,
        f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' from "
        "your request or supply a non-empty value.",
        code="parameter_invalid_empty",
        param=path,
    )


def _is_int(value: str) -> bool:
    body = value[1:] if value[:1] in "+-" else value
    return body.isdigit()


def _parse_int(value: str, path: str) -> int:
    if not _is_int(value):
        raise StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=path
        )
    return int(value)


def _parse_decimal(value: str, path: str) -> Decimal:
    try:
        result = Decimal(value)
    except InvalidOperation:
        result = Decimal("NaN")
    if not result.is_finite() or "e" in value.lower():
        raise invalid(f"Invalid decimal: {value}", param=path)
    return result


def _build(tp: Any) -> Node:
    origin = typing.get_origin(tp)
    if origin in (typing.NotRequired, typing.Required):
        return _build(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType) or origin is typing.Literal:
        return _build_union(tp)
    if tp in _SCALARS:
        return ScalarNode(_SCALARS[tp])
    if tp is float:
        return ScalarNode("decimal")
    if is_typeddict(tp):
        return object_node(tp)
    if origin in (list, typing.List):  # noqa: UP006 - matching stripe-python's annotations
        (item,) = typing.get_args(tp) or (Any,)
        return ListNode(_build(item))
    if origin in (dict, typing.Dict, Mapping) or getattr(origin, "__name__", "").endswith(  # noqa: UP006
        "StripeObject"
    ):
        return MapNode()
    return AnyNode()


def _build_union(tp: Any) -> Node:
    options: list[Node] = []
    literals: list[str] = []
    empty_ok = False
    stack = [tp]
    while stack:
        current = stack.pop()
        origin = typing.get_origin(current)
        if origin in (typing.Union, types.UnionType):
            stack.extend(reversed(typing.get_args(current)))
        elif origin is typing.Literal:
            for value in typing.get_args(current):
                if value == "":
                    empty_ok = True
                else:
                    literals.append(str(value).lower() if isinstance(value, bool) else str(value))
        elif current is not type(None):
            options.append(_build(current))
    return UnionNode(options, literals, empty_ok)


_building: dict[type, ObjectNode] = {}
# Schemas are built lazily and may be asked for from two threads (a server thread and the
# demo seeder); a half-built node must never be seen.
_lock = threading.RLock()


def object_node(cls: type) -> ObjectNode:
    """The schema of one params TypedDict (built once; recursive references share the node)."""
    with _lock:
        if cls in _building:
            return _building[cls]
        node = ObjectNode(cls.__name__)
        _building[cls] = node
        hints = typing.get_type_hints(cls, localns=_OPTION_NAMES, include_extras=True)
        node.fields = {k: _build(v) for k, v in hints.items() if k not in _REQUEST_OPTION_KEYS}
        required: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        node.required = required - _REQUEST_OPTION_KEYS
        return node


_endpoints: dict[str, ObjectNode] = {}


def endpoint_schema(params_class: str) -> ObjectNode:
    """The schema for `stripe.params.<params_class>`."""
    found = _endpoints.get(params_class)
    if found is None:
        with _lock:
            found = object_node(getattr(stripe.params, params_class))
            _endpoints[params_class] = found
    return found


def validate(params_class: str, form: Mapping[str, FormValue]) -> dict[str, Any]:
    """Check and convert a decoded request against stripe-python's params for the endpoint."""
    return endpoint_schema(params_class).coerce_fields(form, "{}")

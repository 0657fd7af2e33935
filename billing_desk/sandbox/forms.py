"""Stripe's form encoding: `a[b][0][c]=v` and `expand[]=x` into nested dicts and lists.

Lists arrive as dicts keyed by index (`lines[0][id]`) or as `[]` appends; which of the two a
value is meant to be is only known from the endpoint's parameter schema (see `schema.py`), so
this layer keeps index keys as strings and `schema` turns them into lists.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from billing_desk.sandbox.errors import invalid

FormValue = str | dict[str, "FormValue"] | list["FormValue"]

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_form(text: str) -> dict[str, FormValue]:
    """Decode an `application/x-www-form-urlencoded` body or query string."""
    root: dict[str, FormValue] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if "[" in key or isinstance(root.get(key), dict | list):
            _insert(root, key, value)
        else:  # the common case: a plain `name=value`
            root[key] = value
    return root


def _split(key: str) -> list[str]:
    start = key.find("[")
    if start <= 0:
        return [key]
    rest = key[start:]
    segments = _SEGMENT.findall(rest)
    if "".join(f"[{s}]" for s in segments) != rest:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [key[:start], *segments]


def _insert(root: dict[str, FormValue], key: str, value: str) -> None:
    parts = _split(key)
    node: dict[str, FormValue] | list[FormValue] = root
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        shown = parts[0] + "".join(f"[{p}]" for p in parts[1 : depth + 1])
        if isinstance(node, list):
            if part != "":
                raise invalid(f"Invalid array: {shown}", param=shown)
            if last:
                node.append(value)
                return
            child: dict[str, FormValue] | list[FormValue] = [] if parts[depth + 1] == "" else {}
            node.append(child)
            node = child
            continue
        if last:
            if isinstance(node.get(part), dict | list):
                raise invalid(
                    f"Invalid hash: {shown} was sent both as a value and a hash", param=shown
                )
            node[part] = value
            return
        existing = node.get(part)
        want_list = parts[depth + 1] == ""
        if existing is None:
            existing = [] if want_list else {}
            node[part] = existing
        elif isinstance(existing, str) or isinstance(existing, list) != want_list:
            raise invalid(f"Invalid hash: {shown} was sent in two different shapes", param=shown)
        node = existing

"""History and checker values made fit for the page: JSON-encodable, and cut short when huge."""

from __future__ import annotations

import json
import math
from typing import Any

VALUE_CHARS_SHOWN = 2_000


def jsonable(value: Any) -> Any:
    """A JSON-encodable copy of a history value (EDN gives sets, tuples and odd map keys)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key_text(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    return repr(value)


def clipped(value: Any) -> Any:
    """A value for the page, cut short when huge: a workload whose every read returns the whole
    set would otherwise make the report grow with the square of the history. The history keeps
    the full value; the page says so."""
    if isinstance(value, str) and len(value) > VALUE_CHARS_SHOWN:
        return value[:VALUE_CHARS_SHOWN] + f"… ({len(value)} characters; the full value is in the history)"
    if isinstance(value, (list, dict, set, frozenset, tuple)) and len(value) > 32:
        text = json.dumps(jsonable(value), separators=(",", ":"))
        if len(text) > VALUE_CHARS_SHOWN:
            return text[:VALUE_CHARS_SHOWN] + f"… ({len(text)} characters; the full value is in the history)"
    return jsonable(value)


def as_text(value: Any) -> str:
    """A value as one line of text: strings as they are, anything else as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(jsonable(value), separators=(", ", ": "), ensure_ascii=False)
    if len(text) > VALUE_CHARS_SHOWN:
        text = text[:VALUE_CHARS_SHOWN] + f"… ({len(text)} characters; the full value is in results.json)"
    return text


def _key_text(key: Any) -> str:
    if isinstance(key, (int, float, bool)) or key is None:
        return str(key)
    return repr(jsonable(key))

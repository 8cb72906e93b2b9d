"""JSON on the wire through orjson: every report, socket packet and jsonb value passes here, and
orjson encodes and decodes several times faster than the standard library."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(obj: Any, **_: Any) -> str:
    """Compact JSON text; extra keyword arguments (``separators`` from python-socketio) are moot."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    return orjson.loads(data)

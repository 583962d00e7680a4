"""Line numbers of the values of a JSON text, by JSON pointer.

The standard ``json`` module forgets where a value was; an analyst told "/workflow/x/type is
wrong" in a 600-line playbook wants the line too. This small scanner walks the (already
valid) text once and records the line where each value starts."""

from __future__ import annotations

import re
from json import decoder

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(path: list[str | int] | tuple[str | int, ...]) -> str:
    return "".join(f"/{escape(str(part))}" for part in path)


def value_lines(text: str) -> dict[str, int]:
    """``{json_pointer: line}`` for every value of ``text`` (1-based lines)."""
    found: dict[str, int] = {}
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(pos: int) -> int:
        low, high = 0, len(newlines)
        while low < high:  # number of newlines before pos
            mid = (low + high) // 2
            if newlines[mid] < pos:
                low = mid + 1
            else:
                high = mid
        return low + 1

    def skip(pos: int) -> int:
        match = _WS.match(text, pos)
        return match.end() if match else pos

    def value(pos: int, where: str) -> int:
        pos = skip(pos)
        found[where or ""] = line_of(pos)
        char = text[pos]
        if char == "{":
            pos = skip(pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                key, pos = decoder.scanstring(text, skip(pos) + 1)
                pos = skip(pos) + 1  # the colon
                pos = skip(value(pos, f"{where}/{escape(key)}"))
                if text[pos] == "}":
                    return pos + 1
                pos += 1  # the comma
        if char == "[":
            pos, index = skip(pos + 1), 0
            if text[pos] == "]":
                return pos + 1
            while True:
                pos = skip(value(pos, f"{where}/{index}"))
                index += 1
                if text[pos] == "]":
                    return pos + 1
                pos += 1
        if char == '"':
            return decoder.scanstring(text, pos + 1)[1]
        match = _SCALAR.match(text, pos)
        return match.end() if match else pos + 1

    try:
        value(0, "")
    except (IndexError, ValueError):  # not valid JSON: the caller reports the decode error
        pass
    return found


def line_for(lines: dict[str, int], where: str) -> int | None:
    """The line of ``where`` or of its nearest enclosing value."""
    while True:
        if where in lines:
            return lines[where]
        if not where:
            return None
        where = where.rsplit("/", 1)[0]

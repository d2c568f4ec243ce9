"""Checks on a decoded JSON document before anything reads it: how deeply it nests, and whether
any string (key or value) holds a character we must not store (see `core.text`)."""

from core.text import forbidden_character


def _path(parts) -> str:
    return ".".join(str(part) for part in parts)


def json_problem(text: str, data, *, max_depth: int):
    """None when `data` (parsed from `text`) is acceptable, else ("depth", None, None) or
    ("character", path, char): `path` names the value (`channel`, `items.0.note`) or, when the
    character is in a key, its parent ("" at the top)."""
    # Cheap exits first: the decision path's bodies are small, flat and plain ASCII.
    deep = text.count("{") + text.count("[") > max_depth
    odd = not text.isascii() or "\\u" in text
    if not (deep or odd):
        return None
    stack = [(data, (), 1)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, str):
            if odd:
                char = forbidden_character(value)
                if char is not None:
                    return ("character", _path(parts), char)
            continue
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        if depth > max_depth:
            return ("depth", None, None)
        for key, item in items:
            if odd and isinstance(key, str):
                char = forbidden_character(key)
                if char is not None:
                    return ("character", _path(parts), char)
            stack.append((item, (*parts, key), depth + 1))
    return None

"""Checks on text from outside (forms, API fields, CSV cells, headers, URLs) that every entry
point shares, so a value refused on one channel is refused on all of them."""

import unicodedata

# Characters no identifier or note of ours may hold: NUL (PostgreSQL cannot store it in text),
# other C0/C1 controls except tab and line breaks, and lone surrogates (not encodable as UTF-8).
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def forbidden_character(text: str) -> str | None:
    """The first character that must not be stored, or None when the text is clean."""
    if text.isascii() and text.isprintable():
        return None
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            return char
    return None


def describe_character(char: str) -> str:
    """How to name a refused character in a message: U+0000 rather than the character itself."""
    return f"U+{ord(char):04X}"


def is_ascii_digits(text: str) -> bool:
    """'0'-'9' only: str.isdigit() also accepts '¹', '４' and '٤', which int() and Decimal()
    then read (or fail to read) in surprising ways."""
    return bool(text) and text.isascii() and text.isdigit()

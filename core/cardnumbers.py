"""Finding card numbers (PANs) in any text, to refuse or mask them before they are stored or
logged. Used on every channel: identifiers, free text, CSV cells, headers and log lines.

A card number is 13 to 19 digits that pass the Luhn check and start with a prefix a card brand
issues (2-6: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro). People and
systems write them in groups: "4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111...",
or glued to letters ("card_378282246310005"). So the digits are read in groups, and consecutive
groups joined by a short run of punctuation or spaces are tried together. Letters end a number
(but may touch it). Fullwidth or other Unicode digits are read as the digits they stand for
(NFKC), so "４１１１..." is caught too.

Why the prefix check: Luhn alone passes one random digit string in ten, so every id holding a
14-digit timestamp would be refused one time in ten. No brand issues numbers starting 0, 1, 7, 8
or 9, nor 20-21 (where today's dates begin).

Why groups are joined only in the layouts cards are printed in (4-4-4-4, 4-4-4-4-3, 4-4-4-1,
4-6-5, 4-6-4...): joining any groups read one timestamp with microseconds in 20, one German
mobile number in 10 and one log line in 30 as a card number. And why UUIDs and hex digests are
passed over whole: their digit runs, glued across dashes, made one UUID in a thousand and one
SHA-256 in 350 look like a card number, and integrators use them as ids. A number written without
separators is found wherever it is, letters around it or not."""

import contextlib
import re
import unicodedata

MIN_DIGITS, MAX_DIGITS = 13, 19
# Between two groups of one number: up to 3 characters that are neither letters nor digits.
_GROUP = re.compile(r"\d+")
_JOINER = re.compile(r"[^\w]{1,3}|_{1,3}")
# Ids that hold digits but never a card number: a UUID, or a hex digest (32+ hex digits), with at
# least one letter (a UUID of digits only would be a number in disguise) and not glued to more.
_HEX_ID = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32,})(?![0-9A-Za-z])"
)
_HEX_LETTER = re.compile(r"[a-fA-F]")
MASK = "•"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# (lowest, highest prefix) of the brands' issuer ranges, compared on as many leading digits.
_ISSUER_RANGES = [
    ("2221", "2720"),  # Mastercard
    ("300", "305"),
    ("36", "36"),
    ("38", "39"),  # Diners Club
    ("34", "34"),
    ("37", "37"),  # American Express
    ("3528", "3589"),  # JCB
    ("4", "4"),  # Visa
    ("50", "50"),
    ("51", "55"),  # Mastercard
    ("56", "58"),
    ("6", "6"),  # Discover, UnionPay, Maestro
]


def _issued_heads():
    """The first digit and the first two digits of every issued number: a digit group that
    starts otherwise cannot start a card number."""
    heads = set()
    for first in "0123456789":
        for second in "0123456789":
            head = first + second
            for low, high in _ISSUER_RANGES:
                width = min(len(low), 2)
                if low[:width] <= head[:width] <= high[:width]:
                    heads.update((first, head))
    return frozenset(heads)


_ISSUED_HEADS = _issued_heads()


def _issued_prefix(digits: str) -> bool:
    for low, high in _ISSUER_RANGES:
        prefix = digits[: len(low)]
        if low <= prefix <= high:
            return True
    return False


def is_card_number(digits: str) -> bool:
    """True for an ASCII digit string that is a plausible card number."""
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and _issued_prefix(digits)
        and luhn_valid(digits)
    )


def _normalised(text: str) -> str:
    """Unicode digits as ASCII digits, one character for one (so spans still fit the text)."""
    if text.isascii():
        return text
    out = []
    for char in text:
        if char.isdigit() and not char.isascii():
            folded = unicodedata.normalize("NFKC", char)
            if len(folded) == 1 and folded.isascii() and folded.isdigit():
                char = folded
            else:
                with contextlib.suppress(TypeError, ValueError):
                    char = str(unicodedata.digit(char))
        out.append(char)
    return "".join(out)


def printed_layout(lengths) -> bool:
    """Whether digit groups of these lengths, joined, are a card number as cards print them:
    fours with a shorter last group (4-4-4-4, 4-4-4-4-3, 4-4-4-1), or 4-6-5 and 4-6-4."""
    if len(lengths) == 1:
        return True
    if lengths[0] != 4:
        return False
    if all(length == 4 for length in lengths[1:-1]) and 1 <= lengths[-1] <= 4:
        return True
    return len(lengths) == 3 and lengths[1] == 6 and lengths[2] in (4, 5)


def _without_hex_ids(text: str) -> str:
    """The text with UUIDs and hex digests blanked out, character for character."""
    if "-" not in text and len(text) < 32:
        return text
    return _HEX_ID.sub(lambda m: "x" * len(m[0]) if _HEX_LETTER.search(m[0]) else m[0], text)


def card_number_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every card number in `text`, in order, not overlapping."""
    if not text:
        return []
    text = _normalised(str(text))
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text)]
    if sum(end - start for start, end in groups) < MIN_DIGITS:
        return []
    text = _without_hex_ids(text)
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text)]
    spans = []
    i = 0
    while i < len(groups):
        start, end = groups[i]
        length = end - start
        if length <= MAX_DIGITS and text[start : start + (2 if length > 1 else 1)] not in _ISSUED_HEADS:
            # No brand issues a number starting with this digit: none starts here. (Most digit
            # groups of a log line or a date end here, which keeps the search cheap.)
            i += 1
            continue
        found = None
        # Try the longest run of joined groups first, starting at group i.
        digits, end_index = "", i
        candidates, lengths = [], []
        for j in range(i, len(groups)):
            if j > i and not _JOINER.fullmatch(text[groups[j - 1][1] : groups[j][0]]):
                break
            digits += text[groups[j][0] : groups[j][1]]
            lengths.append(groups[j][1] - groups[j][0])
            if len(digits) > MAX_DIGITS:
                break
            if printed_layout(lengths):
                candidates.append((j, digits))
        for end_index, digits in reversed(candidates):
            if is_card_number(digits):
                found = (groups[i][0], groups[end_index][1])
                break
        if found is None and groups[i][1] - groups[i][0] > MAX_DIGITS:
            # One long digit run: any 13-19 digit window of it may be the number.
            found = _window_in(text, *groups[i])
            end_index = i
        if found:
            spans.append(found)
            i = end_index + 1
        else:
            i += 1
    return spans


def _window_in(text, start, end):
    run = text[start:end]
    for length in range(MAX_DIGITS, MIN_DIGITS - 1, -1):
        for offset in range(len(run) - length + 1):
            if is_card_number(run[offset : offset + length]):
                return start + offset, start + offset + length
    return None


def contains_card_number(text) -> bool:
    return bool(card_number_spans(text)) if isinstance(text, str) else False


def mask_card_numbers(text: str) -> str:
    """The text with every card number replaced by dots and its last 4 digits."""
    if not isinstance(text, str):
        return text
    spans = card_number_spans(text)
    if not spans:
        return text
    normalised = _normalised(text)
    pieces, last = [], 0
    for start, end in spans:
        digits = re.sub(r"\D", "", normalised[start:end])
        pieces.append(text[last:start])
        pieces.append(f"{MASK * 4} {digits[-4:]}")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# For tools that scan millions of cells (CSV files): a pattern that matches every text in which
# `card_number_spans` can find a number, and few others, so that only those few cells need the
# exact check above. Written for RE2 (what pyarrow.compute runs); it reads ASCII digits only, so
# a cell holding any other digit (NON_ASCII_DIGIT_PATTERN) must go to the exact check directly.
# Why it is a superset: a number starts a group of digits (not after another digit) with an
# issued prefix (3-6, or 22-27), and its 13 digits (12 after "2x") may be separated by up to 3
# characters that are not letters or digits; or it hides in a run of more than 19 digits.
_ANY_JOINER = r"[^A-Za-z0-9]{0,3}"
CANDIDATE_PATTERN = (
    rf"(?:^|[^0-9])(?:[3-6](?:{_ANY_JOINER}[0-9]){{12}}|2{_ANY_JOINER}[2-7](?:{_ANY_JOINER}[0-9]){{11}})"
    rf"|[0-9]{{{MAX_DIGITS + 1},}}"
)
NON_ASCII_DIGIT_PATTERN = r"[^\P{N}\x00-\x7F]"

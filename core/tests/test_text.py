import pytest

from core.text import describe_character, forbidden_character, is_ascii_digits


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\x1b[31m", "\x85"])
def test_controls_nul_and_lone_surrogates_are_forbidden(text):
    assert forbidden_character(text) is not None


@pytest.mark.parametrize("text", ["plain", "line\nbreak\ttab", "中文 – ü", "emoji 😀"])
def test_ordinary_text_is_allowed(text):
    assert forbidden_character(text) is None


def test_describe_character_never_echoes_the_character():
    assert describe_character("\x00") == "U+0000"


@pytest.mark.parametrize(("text", "expected"), [("123", True), ("¹", False), ("４", False), ("", False)])
def test_ascii_digits_only(text, expected):
    assert is_ascii_digits(text) is expected

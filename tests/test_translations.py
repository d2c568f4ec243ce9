"""Every page exists in Simplified Chinese: each catalogue translates every message it holds."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted(ROOT.glob("locale/zh_Hans/LC_MESSAGES/django.po")) + sorted(
    ROOT.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")
)


def untranslated(path):
    entries = path.read_text(encoding="utf-8").split("\n\n")[1:]  # the first is the header
    missing = []
    for entry in entries:
        msgid = re.search(r'^msgid "(.*)"$', entry, re.M)
        if msgid is None:
            continue
        if "#, fuzzy" in entry or re.search(r'^msgstr(\[0\])? ""$', entry, re.M):
            missing.append(msgid.group(1))
    return missing


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_has_a_chinese_translation(catalogue):
    assert untranslated(catalogue) == []


def test_each_app_has_a_catalogue():
    assert {p.relative_to(ROOT).parts[0] for p in CATALOGUES} >= {
        "locale",
        "accounts",
        "api",
        "transactions",
        "detection",
    }

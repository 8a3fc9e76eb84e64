"""Language detection for review text: English, Chinese, or undetermined.

Reviews on a movie site are short and often mixed ("《流浪地球》 is great"),
so detection counts scripts rather than asking a statistical model: Han
characters against Latin letters. It is deterministic, needs no model file
and is exact for the two languages the sentiment models cover.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "zh", "und"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def script_counts(text: str) -> tuple[int, int]:
    """``(han, latin)``: how many Han characters and Latin letters ``text`` holds."""
    return len(_HAN.findall(text)), len(_LATIN.findall(text))


def detect_language(text: str) -> Language:
    """The dominant language of ``text``.

    A Han character carries about as much as a three-letter English word, so
    Han characters count three times against Latin letters. Text with neither
    (empty, digits, emoji only) is ``"und"``.

    Args:
        text: any string.

    Returns:
        ``"zh"``, ``"en"`` or ``"und"``.
    """
    han, latin = script_counts(text)
    if han == 0 and latin == 0:
        return "und"
    return "zh" if 3 * han >= latin else "en"

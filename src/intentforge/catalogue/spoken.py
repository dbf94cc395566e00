"""Slots whose values are said in words but stored as codes: Todoist's priority 1..4 is "urgent",
"high priority", "p3" or "no rush" when spoken.

The model copies the phrase (a span of the request, like every text slot) and a table gives the
value, as dates are copied as said and resolved by code. Learning "high priority" -> 2 from a
couple of training rows per phrase is what the model got wrong most; copying is what it does well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NON_WORD = re.compile(r"[^\w']+")


def _words(text: str) -> str:
    """Lower case, punctuation and runs of spaces as one space: "P1!" and "p1" read the same."""
    return " " + _NON_WORD.sub(" ", text.lower().replace("’", "'")).strip() + " "


class SpokenTable:
    """Phrases (any case) -> values. A span means the value of the longest phrase it contains
    as whole words: "it's not urgent" is "not urgent" (4), not "urgent" (1)."""

    def __init__(self, phrases: Mapping[str, Any]) -> None:
        if not phrases:
            raise ValueError("a spoken table needs at least one phrase")
        self._values = {_words(p): v for p, v in phrases.items()}
        if "  " in self._values:
            raise ValueError("a spoken phrase needs at least one word")
        self._longest_first = sorted(self._values, key=len, reverse=True)

    @property
    def values(self) -> dict[str, Any]:
        """Phrase (normalised) -> value."""
        return {p.strip(): v for p, v in self._values.items()}

    def lookup(self, span: str) -> Any | None:
        """The value `span` says, or None when it holds no known phrase."""
        words = _words(span)
        for phrase in self._longest_first:
            if phrase in words:
                return self._values[phrase]
        return None

    def find(self, text: str, value: Any) -> str | None:
        """The span of `text` (as written there) to copy for `value`: the longest phrase with that
        value that `text` says and that `lookup` reads back as `value`; None if it says none."""
        for phrase in self._longest_first:
            if self._values[phrase] != value:
                continue
            pattern = r"(?<!\w)" + r"\W+".join(map(re.escape, phrase.split())) + r"(?!\w)"
            for found in re.finditer(pattern, text, flags=re.IGNORECASE):
                if self.lookup(_around(text, found.start(), found.end())) == value:
                    return found.group(0)
        return None


def _around(text: str, start: int, end: int) -> str:
    """The words touching a match: "not urgent" around "urgent", to catch a longer phrase."""
    before = text[:start].split()[-1:]
    after = text[end:].split()[:1]
    return " ".join([*before, text[start:end], *after])

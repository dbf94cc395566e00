"""Word error rate of transcripts against what was said.

Both sides are normalised first, so that only words count, not how they are written: lower case,
punctuation dropped, numbers spelled as words ("9am" and "nine a.m." are the same two words). The
word-level edit distance is rapidfuzz's Levenshtein on word lists (already a dependency); jiwer
would compute the same distance on top of rapidfuzz and bring its own normaliser, which does not
know the project's number spellings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

from intentforge.data.speech import digits_to_words

_A_M = re.compile(r"\b([ap])\.\s?m\b\.?", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """The words of `text` as the error rate compares them."""
    text = _A_M.sub(lambda m: f"{m[1]}m", text)
    text = digits_to_words(text).lower().replace("’", "'")
    return _WORD.findall(text)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, words in the reference)."""
    said = words(reference)
    return Levenshtein.distance(said, words(hypothesis)), len(said)


def word_error_rate(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Corpus word error rate of (reference, hypothesis) pairs: all errors over all reference
    words (None when there are no reference words)."""
    errors = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors += e
        total += n
    return errors / total if total else None

"""Several requests in one sentence, composed from single-request rows.

"add milk to the list and what's the weather in paris": two or three generated rows joined by a
connector people say, or as sentences in a row, labelled with every call in the order said
(`calls`, the first also at the top level). Every call keeps its spans, so the joined text still
holds each value as said. Two out-of-scope rows are never next to each other: "tell me a joke
and play jazz" is one refusal or two, and neither is worth teaching.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE

# How people chain requests. Speech-to-text without punctuation writes none of the commas.
CONNECTORS = (
    " and ",
    " and also ",
    " then ",
    " and then ",
    ", and ",
    " also ",
    " after that ",
    ", then ",
    " and after that ",
)
# Between two sentences, when the first ends with its own mark: "... tomorrow? Also, remind me".
SENTENCE_STARTS = ("", "Also, ", "And ", "Then ", "And also ", "After that, ")
_SENTENCE_END = ".!?"
# Of the rows that say several requests, the share that say three.
THREE_SHARE = 0.2


def _values(row: dict[str, Any]) -> list[str]:
    return [v for c in row["calls"] for v in c["parameters"].values() if isinstance(v, str)]


def _calls(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"intent": row["intent"], "parameters": dict(row["parameters"])}]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(first: dict[str, Any], second: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One row saying `first` then `second`. Mostly joined as spoken in one sentence (the first's
    closing mark dropped, the second's capital lowered where no value depends on them); a first
    request that ends with its own mark is sometimes followed by a second sentence instead."""
    calls = first.get("calls", _calls(first)) + _calls(second)
    a, b = first["text"], second["text"]
    if a[-1:] in _SENTENCE_END and first.get("style") != "lower" and rng.random() < 0.35:
        start = rng.choice(SENTENCE_STARTS)
        plain = a + " " + start + (b[:1].lower() + b[1:] if start else _capital(b))
        fallback = a + " " + start + b
    else:
        connector = rng.choice(CONNECTORS)
        if first.get("style") == "lower":
            connector = connector.replace(",", "")
        plain = a.rstrip(_SENTENCE_END) + connector + b[:1].lower() + b[1:]
        fallback = a + connector + b
    row = {**first, "calls": calls}
    text = plain
    if not all(v in text for v in _values(row)):  # a value said with the mark or the capital
        text = fallback
    return {**row, "text": text}


# Which parts of a joined row are out of scope: every order equally likely, never two out-of-scope
# parts in a row. A third of the parts are then out of scope, and "turn on the lights and add
# bread to my list" (a refusal, then an action) is as common as the other way round.
_PATTERNS = {
    2: ((False, False), (True, False), (False, True)),
    3: (
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, False, True),
    ),
}


def compose(
    rows: Sequence[dict[str, Any]], count: int, rng: random.Random, *, three: int = 0
) -> list[dict[str, Any]]:
    """`rows` with `count` rows that say several requests joined from them: `three` of those
    say three (made of three rows), the others two; orders the rows left cannot make are skipped,
    and fewer rows are joined when too few are left.
    The rest unchanged, in order."""
    pools: dict[bool, list[int]] = {True: [], False: []}
    for i in rng.sample(range(len(rows)), len(rows)):
        pools[rows[i]["intent"] == OUT_OF_SCOPE].append(i)
    groups: list[list[int]] = []
    for number in range(count):
        fits = [
            kinds
            for kinds in _PATTERNS[3 if number < three else 2]
            if all(len(pools[kind]) >= kinds.count(kind) for kind in (True, False))
        ]
        if not fits:
            break
        kinds = rng.choice(fits)
        groups.append([pools[kind].pop() for kind in kinds])
    joined = []
    for group in groups:
        row = rows[group[0]]
        for j in group[1:]:
            row = join(row, rows[j], rng)
        joined.append(row)
    used = {i for group in groups for i in group}
    return [row for k, row in enumerate(rows) if k not in used] + joined

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
    request that ends with its own mark is sometimes followed by a second sentence instead.
    `parts` holds each request's words as the joined text says them."""
    calls = first.get("calls", _calls(first)) + _calls(second)
    a, b = first["text"], second["text"]
    before = list(first.get("parts", [a]))
    if a[-1:] in _SENTENCE_END and first.get("style") != "lower" and rng.random() < 0.35:
        start = rng.choice(SENTENCE_STARTS)
        said = b[:1].lower() + b[1:] if start else _capital(b)
        plain = (a + " " + start, before, said)
        fallback = (a + " " + start, before, b)
    else:
        connector = rng.choice(CONNECTORS)
        if first.get("style") == "lower":
            connector = connector.replace(",", "")
        stripped = [*before[:-1], before[-1].rstrip(_SENTENCE_END)]
        plain = (a.rstrip(_SENTENCE_END) + connector, stripped, b[:1].lower() + b[1:])
        fallback = (a + connector, before, b)
    row = {**first, "calls": calls}
    head, parts, said = plain
    if not all(v in head + said for v in _values(row)):  # a value said with the mark or capital
        head, parts, said = fallback
    return {**row, "text": head + said, "parts": [*parts, said]}


def compose(
    rows: Sequence[dict[str, Any]], count: int, rng: random.Random, *, three: int = 0
) -> list[dict[str, Any]]:
    """`rows` with `count` rows that say several requests joined from them: `three` of those
    say three (made of three rows), the others two; fewer when too few rows are in scope. The
    rest unchanged, in order. Two out-of-scope rows are never next to each other."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    in_scope = [i for i in order if rows[i]["intent"] != OUT_OF_SCOPE]
    used: set[int] = set()
    groups: list[list[int]] = []
    for i in order:
        if len(groups) == count:
            break
        if i in used:
            continue
        group = [i]
        for _ in range(2 if len(groups) < three else 1):
            pool = in_scope if rows[group[-1]]["intent"] == OUT_OF_SCOPE else order
            partner = next((j for j in pool if j not in group and j not in used), None)
            if partner is None:
                break
            group.append(partner)
        if len(group) == 1:
            continue
        used.update(group)
        groups.append(group)
    joined = []
    for group in groups:
        row = rows[group[0]]
        for j in group[1:]:
            row = join(row, rows[j], rng)
        joined.append(row)
    return [row for k, row in enumerate(rows) if k not in used] + joined

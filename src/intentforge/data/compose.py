"""Several requests in one sentence, composed from single-request rows.

"add milk to the list and what's the weather in paris": two generated rows joined by a connector
people say, labelled with both calls in the order said (`calls`, the first also at the top level).
Every call keeps its spans, so the joined text still holds each value as said. Two out-of-scope
rows are never joined: "tell me a joke and play jazz" is one refusal or two, and neither is
worth teaching.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE

# How people chain requests. Speech-to-text without punctuation writes none of the commas.
CONNECTORS = (" and ", " and also ", " then ", " and then ", ", and ", " also ", " after that ")
_SENTENCE_END = ".!?"


def _values(row: dict[str, Any]) -> list[str]:
    return [v for c in row["calls"] for v in c["parameters"].values() if isinstance(v, str)]


def _calls(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"intent": row["intent"], "parameters": dict(row["parameters"])}]


def join(first: dict[str, Any], second: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One row saying `first` then `second`, joined as spoken: the first's closing mark dropped
    and the second's capital lowered where no value depends on them."""
    connector = rng.choice(CONNECTORS)
    if first.get("style") == "lower":
        connector = connector.replace(",", "")
    calls = _calls(first) + _calls(second)
    a, b = first["text"], second["text"]
    plain = a.rstrip(_SENTENCE_END) + connector + b[:1].lower() + b[1:]
    text = plain
    row = {**first, "text": text, "calls": calls}
    if not all(v in text for v in _values(row)):  # a value said with the mark or the capital
        text = a + connector + b
    return {**row, "text": text}


def compose(rows: Sequence[dict[str, Any]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`rows` with `2 * count` of them joined pairwise into `count` two-call rows (fewer when
    too few rows are in scope); the rest unchanged, in order."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    in_scope = [i for i in order if rows[i]["intent"] != OUT_OF_SCOPE]
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i in order:
        if len(pairs) == count:
            break
        if i in used:
            continue
        partner_pool = in_scope if rows[i]["intent"] == OUT_OF_SCOPE else order
        partner = next((j for j in partner_pool if j != i and j not in used), None)
        if partner is None:
            continue
        used.update((i, partner))
        pairs.append((i, partner))
    joined = [join(rows[i], rows[j], rng) for i, j in pairs]
    return [row for k, row in enumerate(rows) if k not in used] + joined

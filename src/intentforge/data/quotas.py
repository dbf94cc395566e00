"""How many rows each intent and slot combination gets: equal per intent, and within an intent by
how often people say each slot (`Intent.slot_rate`; required slots are said in most requests, and
the few that leave one out teach the model to leave it out instead of inventing it)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from intentforge.catalogue import Intent


def spread(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` near-equal counts; which parts get the remainder is random."""
    base, extra = divmod(total, parts)
    lucky = set(rng.sample(range(parts), extra))
    return [base + (1 if i in lucky else 0) for i in range(parts)]


def combo_weight(intent: Intent, combo: frozenset[str]) -> float:
    """How likely a request mentions exactly the slots in `combo`: a required slot is said at
    its rate too (`Intent.slot_rate`), and a request that leaves it out is asked about."""
    weight = 1.0
    for slot in intent.slots:
        rate = intent.slot_rate(slot)
        weight *= rate if slot in combo else 1 - rate
    return weight


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder (sums to `total` exactly)."""
    shares = [w * total / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts

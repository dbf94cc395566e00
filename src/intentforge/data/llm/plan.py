"""What to ask the LLM for: rows per intent, balanced over slot combinations, and who is in flight.

The plan counts what the ledger already holds, so a resumed run asks only for what is missing.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, Intent
from intentforge.data.llm.variety import OUT_OF_SCOPE_TOPICS, SPEAKERS, STYLES

_MAX_COMBINATIONS = 16


@dataclass(frozen=True)
class RowSpec:
    """One requested row: the optional slots it must carry, how it should sound, who says it,
    and (for `none`) what it is about."""

    slots: tuple[str, ...]
    style: str
    topic: str | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Job:
    """One request to the LLM: rows of one intent."""

    intent: str
    specs: tuple[RowSpec, ...]


def intent_quotas(catalogue: Catalogue, rows: int, none_fraction: float) -> dict[str, int]:
    """Rows per intent: `none_fraction` of them out of scope, the rest spread evenly."""
    in_scope = [name for name in catalogue.names if name != OUT_OF_SCOPE]
    if not in_scope:
        return {OUT_OF_SCOPE: rows}
    none_rows = round(rows * none_fraction)
    base, extra = divmod(rows - none_rows, len(in_scope))
    quotas = {name: base + (i < extra) for i, name in enumerate(in_scope)}
    quotas[OUT_OF_SCOPE] = none_rows
    return quotas


def slot_combinations(intent: Intent) -> list[tuple[str, ...]]:
    """The sets of optional slots to balance over (all subsets, or a sample when there are many)."""
    optional = [s for s in intent.slots if s not in intent.required_slots]
    if 2 ** len(optional) <= _MAX_COMBINATIONS:
        sizes: Sequence[int] = range(len(optional) + 1)
    else:
        sizes = sorted({0, 1, 2, len(optional)})
    return [combo for k in sizes for combo in itertools.combinations(optional, k)]


def optional_slots_of(intent: Intent, parameters: Mapping[str, Any]) -> tuple[str, ...]:
    """The optional slots a row fills: the slot combination it counts towards."""
    return tuple(s for s in intent.slots if s in parameters and s not in intent.required_slots)


class Plan:
    """Quotas per intent and slot combination, what is done, and what is asked for in flight."""

    def __init__(
        self,
        catalogue: Catalogue,
        quotas: dict[str, int],
        existing: Sequence[Mapping[str, Any]],
        rng: random.Random,
    ) -> None:
        self._catalogue = catalogue
        self._rng = rng
        self.quotas = {name: q for name, q in quotas.items() if q > 0}
        self.combos = {name: slot_combinations(catalogue[name]) for name in self.quotas}
        self.combo_quota: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for name, quota in self.quotas.items():
            combos = self.combos[name]
            base, extra = divmod(quota, len(combos))
            lucky = rng.sample(range(len(combos)), extra)  # which combinations get the remainder
            for i, combo in enumerate(combos):
                self.combo_quota[name, combo] = base + (i in lucky)
        self.have: Counter[str] = Counter()
        self.have_combo: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.pending: Counter[str] = Counter()
        self.pending_combo: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.in_flight = 0
        for row in existing:
            self.count(row["intent"], row["parameters"])

    def count(self, name: str, parameters: Mapping[str, Any]) -> None:
        self.have[name] += 1
        self.have_combo[name, optional_slots_of(self._catalogue[name], parameters)] += 1

    def room(self, name: str) -> int:
        return max(0, self.quotas.get(name, 0) - self.have[name])

    @property
    def total(self) -> int:
        return sum(self.quotas.values())

    @property
    def done(self) -> int:
        return sum(min(self.have[name], quota) for name, quota in self.quotas.items())

    def next_job(self, max_rows: int) -> Job | None:
        """The intent furthest behind, relative to its quota, with rows for its emptiest combos."""
        outstanding = {
            name: quota - self.have[name] - self.pending[name]
            for name, quota in self.quotas.items()
        }
        open_intents = [name for name, left in outstanding.items() if left > 0]
        if not open_intents:
            return None
        name = max(open_intents, key=lambda n: outstanding[n] / self.quotas[n])
        specs = []
        for _ in range(min(max_rows, outstanding[name])):
            combo = max(
                self.combos[name],
                key=lambda c: (
                    self.combo_quota[name, c]
                    - self.have_combo[name, c]
                    - self.pending_combo[name, c]
                ),
            )
            self.pending_combo[name, combo] += 1
            topic = self._rng.choice(OUT_OF_SCOPE_TOPICS) if name == OUT_OF_SCOPE else None
            specs.append(
                RowSpec(combo, self._rng.choice(STYLES), topic, self._rng.choice(SPEAKERS))
            )
        self.pending[name] += len(specs)
        self.in_flight += 1
        return Job(name, tuple(specs))

    def settle(self, job: Job) -> None:
        """The job's request finished (its accepted rows were already counted)."""
        self.pending[job.intent] -= len(job.specs)
        for spec in job.specs:
            self.pending_combo[job.intent, spec.slots] -= 1
        self.in_flight -= 1

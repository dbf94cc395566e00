"""Choose the out-of-scope threshold (runtime.refuse_at) on held-out generated rows.

The runtime answers out-of-scope when the model gives `none` at least `refuse_at` of the probability
where it chooses the intent. The lower the threshold, the more requests outside the catalogue are
refused, and the more in-scope requests are refused with them. The threshold is chosen on the
build's test split (generated rows never trained on), never on a dev set: the lowest value of a
fixed grid at which at most `max_false_refusals` of the held-out in-scope rows would be refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE

# Candidate thresholds, from refusing most to refusing least; 0.5 and above is plain greedy for a
# choice between two answers.
GRID: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
MAX_FALSE_REFUSALS = 0.01  # of held-out in-scope rows, at the chosen threshold


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold and what it does on the held-out rows."""

    refuse_at: float
    in_scope_rows: int
    out_of_scope_rows: int
    false_refusals: float  # share of in-scope rows refused at refuse_at
    refused: float  # share of out-of-scope rows refused at refuse_at

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(
    shares: Iterable[tuple[str, float]],
    *,
    grid: Sequence[float] = GRID,
    max_false_refusals: float = MAX_FALSE_REFUSALS,
) -> Calibration:
    """From (gold intent, out-of-scope share at the decision) pairs, the lowest threshold of
    `grid` that refuses at most `max_false_refusals` of the in-scope rows (the grid's last value
    when none does)."""
    pairs = list(shares)
    inside = [s for intent, s in pairs if intent != OUT_OF_SCOPE]
    outside = [s for intent, s in pairs if intent == OUT_OF_SCOPE]
    if not inside:
        raise ValueError("calibration needs held-out in-scope rows")

    def rate(values: list[float], threshold: float) -> float:
        return sum(v >= threshold for v in values) / len(values) if values else 0.0

    chosen = next((t for t in grid if rate(inside, t) <= max_false_refusals), grid[-1])
    return Calibration(
        refuse_at=chosen,
        in_scope_rows=len(inside),
        out_of_scope_rows=len(outside),
        false_refusals=round(rate(inside, chosen), 4),
        refused=round(rate(outside, chosen), 4),
    )


def calibrate(
    share_of: Callable[[str], float],
    rows: Sequence[dict[str, Any]],
    *,
    on_row: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Measure `share_of(text)` (Parser.refusal_share) on labelled `rows` and choose the
    threshold."""
    pairs = []
    for done, row in enumerate(rows, 1):
        pairs.append((str(row["intent"]), share_of(str(row["text"]))))
        if on_row is not None:
            on_row(done, len(rows))
    return choose_threshold(pairs)

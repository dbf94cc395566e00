"""The one percentile of the project: eval's latency p50/p95, dataset statistics and the benches.

Linear interpolation between closest ranks (Hyndman & Fan type 7): numpy's default,
`statistics.quantiles(method="inclusive")` and a spreadsheet's PERCENTILE.INC all agree with it, so
a "p95" printed anywhere here is the same statistic as everywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (q in 0..100) of `values`; ValueError when there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))

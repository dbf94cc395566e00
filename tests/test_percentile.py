"""The project's one percentile: the standard linear definition, whoever prints a p95."""

from __future__ import annotations

import statistics

import pytest

from intentforge.percentile import percentile


@pytest.mark.parametrize(
    "values",
    [[1.0, 2.0], [3.0, 1.0, 2.0], [12.0, 7.5, 3.0, 99.0, 40.0, 41.0, 8.0], list(range(1, 21))],
)
def test_percentile_agrees_with_statistics_quantiles_inclusive(values: list[float]) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in (1, 25, 50, 75, 95, 99):
        assert percentile(values, q) == pytest.approx(cuts[q - 1])
    assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_percentile_interpolates_between_closest_ranks() -> None:
    # p95 of 20 values lies 95 % of the way from the 19th to the 20th: not either of them.
    assert percentile(range(1, 21), 95) == pytest.approx(19.05)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([7.0], 95) == 7.0


def test_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        percentile([1.0], 101)

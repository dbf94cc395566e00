"""Choosing the out-of-scope threshold on held-out generated rows."""

from __future__ import annotations

import pytest

from intentforge.evaluate.calibrate import calibrate, choose_threshold


def test_lowest_threshold_that_keeps_false_refusals_within_the_budget():
    # 100 in-scope rows: one gives out-of-scope 0.22, one 0.12, the rest ~0.
    inside = [("add_task", 0.001)] * 98 + [("get_weather", 0.22), ("send_email", 0.12)]
    outside = [("none", 0.9)] * 8 + [("none", 0.15), ("none", 0.03)]
    found = choose_threshold(inside + outside, max_false_refusals=0.01)
    # 0.1 and 0.05 would refuse two in-scope rows (2 %); 0.15 refuses one (1 %).
    assert found.refuse_at == 0.15
    assert found.false_refusals == 0.01
    assert found.refused == 0.9  # the 0.03 row stays an action
    assert (found.in_scope_rows, found.out_of_scope_rows) == (100, 10)


def test_a_confident_model_gets_the_lowest_threshold_and_an_unsure_one_the_highest():
    sure = [("add_task", 0.0)] * 50 + [("none", 0.99)] * 10
    assert choose_threshold(sure).refuse_at == 0.05
    unsure = [("add_task", 0.6)] * 50
    assert choose_threshold(unsure).refuse_at == 0.5


def test_calibration_needs_in_scope_rows():
    with pytest.raises(ValueError, match="in-scope"):
        choose_threshold([("none", 0.9)])


def test_calibrate_measures_every_row_and_reports_progress():
    rows = [
        {"text": "add milk", "intent": "add_task"},
        {"text": "play jazz", "intent": "none"},
    ]
    shares = {"add milk": 0.02, "play jazz": 0.8}
    seen: list[tuple[int, int]] = []
    found = calibrate(
        shares.__getitem__, rows, on_row=lambda done, total: seen.append((done, total))
    )
    assert seen == [(1, 2), (2, 2)]
    assert found.refuse_at == 0.05
    assert found.refused == 1.0

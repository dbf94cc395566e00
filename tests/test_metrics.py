"""Evaluation metrics against values computed by hand on an eight-row fixture."""

from __future__ import annotations

from dataclasses import replace

import pytest

from intentforge.evaluate.metrics import (
    INVALID,
    Prediction,
    compute_metrics,
    costly_errors,
    costly_errors_per_set,
    multi_exact_per_set,
)
from intentforge.evaluate.values import normalise_value, values_equal

SLOTS = {
    "add_task": ("content", "due", "priority", "project"),
    "get_weather": ("location", "date"),
    "send_email": ("to", "subject", "body"),
    "none": (),
}


def _p(n, gold_intent, gold, intent, predicted=None, stopped=None):
    return Prediction(
        id=f"r{n}",
        text=f"text {n}",
        gold_intent=gold_intent,
        gold_parameters=gold,
        intent=intent,
        parameters=predicted or {},
        latency_ms=10.0 * n,
        stopped=stopped,
    )


FIXTURE = [
    # 1: right, after normalisation (case, spaces, trailing dot, "on" before a date, int priority)
    _p(
        1,
        "add_task",
        {"content": "buy milk", "due": "friday", "priority": 1},
        "add_task",
        {"content": "Buy  milk.", "due": "on Friday", "priority": 1},
        stopped=True,
    ),
    # 2: right intent, missed project
    _p(
        2,
        "add_task",
        {"content": "call mum", "project": "home"},
        "add_task",
        {"content": "call mum"},
        stopped=True,
    ),
    # 3: right intent, invented a date
    _p(
        3,
        "get_weather",
        {"location": "paris"},
        "get_weather",
        {"location": "Paris", "date": "today"},
        stopped=False,
    ),
    # 4: wrong intent
    _p(
        4,
        "send_email",
        {"to": "john", "body": "I'll be late"},
        "add_task",
        {"content": "email john"},
        stopped=True,
    ),
    # 5: refused correctly
    _p(5, "none", {}, "none"),
    # 6: out-of-scope turned into an action
    _p(6, "none", {}, "get_weather"),
    # 7: invalid output
    _p(7, "get_weather", {}, None, stopped=False),
    # 8: in-scope refused
    _p(8, "add_task", {"content": "pay rent"}, "none"),
]


@pytest.fixture(scope="module")
def metrics():
    return compute_metrics(FIXTURE, SLOTS)


def test_headline_rates_match_hand_computed_values(metrics):
    assert metrics.rows == 8
    assert metrics.intent_accuracy == pytest.approx(4 / 8)
    assert metrics.json_validity == pytest.approx(7 / 8)
    assert metrics.slot_exact_match == pytest.approx(1 / 6)  # only row 1 of 6 in-scope rows
    assert metrics.exact_match == pytest.approx(2 / 8)  # rows 1 and 5
    assert metrics.out_of_scope_refusal == pytest.approx(1 / 2)
    assert metrics.false_action_rate == pytest.approx(1 / 2)
    assert metrics.false_refusal_rate == pytest.approx(1 / 6)


def test_stop_rate_counts_only_rows_where_it_was_measured(metrics):
    assert metrics.stop_measured == 5
    assert metrics.stop_rate == pytest.approx(3 / 5)


def test_latency_percentiles_interpolate_between_ranks(metrics):
    assert metrics.latency_p50_ms == pytest.approx(45.0)
    assert metrics.latency_p95_ms == pytest.approx(76.5)  # 70 + 0.65 * 10
    assert metrics.latency_mean_ms == pytest.approx(45.0)


def test_per_intent_precision_recall_f1(metrics):
    add = metrics.per_intent["add_task"]
    assert (add.tp, add.fp, add.fn) == (2, 1, 1)
    assert add.precision == pytest.approx(2 / 3)
    assert add.recall == pytest.approx(2 / 3)
    assert add.f1 == pytest.approx(2 / 3)
    weather = metrics.per_intent["get_weather"]
    assert (weather.precision, weather.recall, weather.f1) == (0.5, 0.5, 0.5)
    email = metrics.per_intent["send_email"]
    assert email.precision is None  # never predicted: precision undefined, not zero
    assert email.recall == 0.0
    assert email.f1 == 0.0
    assert metrics.per_intent["none"].f1 == pytest.approx(0.5)
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0 + 0.5) / 4)


def test_slot_level_f1_per_slot_and_overall(metrics):
    s = metrics.per_slot
    assert (s["add_task.content"].tp, s["add_task.content"].fp, s["add_task.content"].fn) == (
        2,
        1,
        1,
    )
    assert s["add_task.content"].f1 == pytest.approx(2 / 3)
    assert s["add_task.due"].f1 == 1.0
    assert s["add_task.priority"].f1 == 1.0
    assert s["add_task.project"].f1 == 0.0
    assert s["get_weather.location"].f1 == 1.0
    assert s["get_weather.date"].precision == 0.0
    assert s["get_weather.date"].recall is None
    assert s["send_email.to"].fn == 1
    assert s["send_email.body"].fn == 1
    assert "send_email.subject" not in s  # never gold, never predicted
    assert metrics.slot_f1 == pytest.approx(10 / 16)  # TP 5, FP 2, FN 4


def test_per_slot_exact_match_counts_absence_and_wrong_intent(metrics):
    em = metrics.per_slot_exact_match
    assert em["add_task.content"] == pytest.approx(2 / 3)
    assert em["add_task.due"] == pytest.approx(2 / 3)  # row 2: absent in both counts as right
    assert em["add_task.project"] == pytest.approx(1 / 3)
    assert em["get_weather.location"] == pytest.approx(1 / 2)
    assert em["get_weather.date"] == 0.0  # row 3 invented one, row 7 invalid
    assert em["send_email.subject"] == 0.0  # wrong intent: nothing is right


def test_confusion_matrix_has_an_invalid_column(metrics):
    confusion = metrics.confusion
    assert confusion["rows"] == ["add_task", "get_weather", "send_email", "none"]
    assert confusion["columns"] == ["add_task", "get_weather", "send_email", "none", INVALID]
    assert confusion["counts"] == [
        [2, 0, 0, 1, 0],
        [0, 1, 0, 0, 1],
        [1, 0, 0, 0, 0],
        [0, 1, 0, 1, 0],
    ]


def test_metrics_serialise_to_plain_data(metrics):
    data = metrics.to_dict()
    assert data["per_intent"]["add_task"]["support"] == 3
    assert set(metrics.headline()) >= {"intent_accuracy", "slot_exact_match", "stop_rate"}


def test_normalisation_matches_the_runtime_rules():
    assert normalise_value("  Buy   Milk!! ") == "buy milk"
    assert normalise_value("Dr. Patel") == "dr. patel"
    assert values_equal(1, "1", "priority")
    assert not values_equal(1, 2, "priority")
    assert values_equal("friday", "On Friday", "due")
    assert values_equal("6pm", "at 6pm", "due")
    assert not values_equal("friday", "on friday", "content")  # only date slots drop "on"
    assert not values_equal("3 days", "in 3 days", "date")  # "in" carries meaning


def test_false_actions_are_counted_per_intent_they_became():
    rows = [
        *FIXTURE,
        _p(9, "none", {}, "add_task", {"content": "book a flight"}),
        _p(10, "none", {}, "add_task", {"content": "order a pizza"}),
        _p(11, "none", {}, None),  # invalid output acts on nothing: not a false action
    ]
    errors = costly_errors(rows, "data/dev")
    assert errors.dataset == "data/dev"
    assert (errors.out_of_scope, errors.false_actions) == (5, 3)
    assert errors.false_actions_by_intent == {"add_task": 2, "get_weather": 1}
    assert (errors.in_scope, errors.false_refusals) == (6, 1)  # row 8


def test_costly_errors_are_reported_per_set_in_order_of_appearance():
    rows = [replace(p, dataset="data/dev2") for p in FIXTURE[4:]]
    rows += [replace(p, dataset="data/dev") for p in FIXTURE]
    per_set = costly_errors_per_set(rows)
    assert [e.dataset for e in per_set] == ["data/dev2", "data/dev"]
    assert per_set[0].to_dict() == {
        "dataset": "data/dev2",
        "out_of_scope": 2,
        "false_actions": 1,
        "false_actions_by_intent": {"get_weather": 1},
        "in_scope": 2,
        "false_refusals": 1,
    }
    assert [e.dataset for e in costly_errors_per_set(FIXTURE, "all")] == ["all"]


def test_empty_dataset_gives_undefined_rates_not_zeros():
    metrics = compute_metrics([], SLOTS)
    assert metrics.intent_accuracy is None
    assert metrics.stop_rate is None
    assert metrics.latency_p50_ms is None


def _multi(n, gold_calls, calls, dataset="data/dev-multi"):
    first = calls[0] if calls else {"intent": None, "parameters": {}}
    return Prediction(
        id=f"m{n}",
        text=f"multi {n}",
        gold_intent=gold_calls[0]["intent"],
        gold_parameters=gold_calls[0]["parameters"],
        intent=first["intent"],
        parameters=first["parameters"],
        gold_calls=gold_calls,
        calls=calls,
        dataset=dataset,
    )


MILK = {"intent": "add_task", "parameters": {"content": "milk"}}
PARIS = {"intent": "get_weather", "parameters": {"location": "Paris"}}
NONE = {"intent": "none", "parameters": {}}


def test_a_multi_request_is_scored_as_an_exact_call_list() -> None:
    rows = [
        _multi(1, [MILK, PARIS], [MILK, {**PARIS, "parameters": {"location": "paris"}}]),  # right
        _multi(2, [MILK, PARIS], [PARIS, MILK]),  # wrong order
        _multi(3, [MILK, PARIS], [MILK]),  # a call lost
        _multi(4, [NONE, MILK], [NONE, MILK, PARIS]),  # a call too many
        _p(5, "add_task", {"content": "milk"}, "add_task", {"content": "milk"}),
    ]
    metrics = compute_metrics(rows, SLOTS)
    assert (metrics.multi_rows, metrics.multi_exact_match) == (4, 0.25)
    # One-request figures are over the one-request row alone.
    assert metrics.intent_accuracy == 1.0 and metrics.rows == 5
    assert multi_exact_per_set(rows) == [{"dataset": "data/dev-multi", "rows": 4, "exact": 1}]


def test_a_one_request_answered_with_two_calls_is_not_exact_and_an_action_is_false() -> None:
    two = replace(
        _p(1, "none", {}, "none"), gold_calls=[NONE], calls=[NONE, {**MILK}]
    )  # refused, then acted anyway
    metrics = compute_metrics([two], SLOTS)
    assert metrics.exact_match == 0.0
    assert metrics.false_action_rate == 1.0
    assert metrics.multi_exact_match is None  # no multi-request rows: undefined, not zero

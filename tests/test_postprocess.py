"""The runtime's steps after validation, each alone, then as the ordered pipeline parse runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import get_args

import pytest

from intentforge.catalogue import BUILTIN_INTENTS, Catalogue, IntentCall, load_catalogue
from intentforge.config import PostprocessStep, RuntimeConfig
from intentforge.runtime import DateResolver
from intentforge.runtime.postprocess import (
    STEPS,
    Answer,
    Context,
    apply_steps,
    attach_trailing_dates,
    detach_dates,
    fill_spoken,
    name_lists,
    resolve_dates,
)

# Wednesday 25 November 2026, 13:30 UTC (14:30 in Paris).
NOW = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def resolver() -> DateResolver:
    return DateResolver()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def context(catalogue: Catalogue, resolver: DateResolver):
    """A Context for the request `text` (said in Paris at NOW)."""

    def make(text: str = "", cat: Catalogue | None = None) -> Context:
        return Context(cat or catalogue, resolver, text, "Europe/Paris", NOW)

    return make


def test_the_steps_are_the_settings_choices_in_order() -> None:
    assert tuple(STEPS) == get_args(PostprocessStep)
    assert RuntimeConfig().postprocess == list(STEPS)  # all on by default


@pytest.mark.parametrize(
    ("text", "said", "answered"),
    [
        (  # the README's first example: the model knew the task and the day, not the list
            "add buy milk to my shopping list for tomorrow",
            {"content": "buy milk", "due": "tomorrow"},
            {"content": "buy milk", "due": "tomorrow", "project": "shopping"},
        ),
        (  # the phrase copied into the task is cut from it
            "put batteries on my groceries list",
            {"content": "batteries on my groceries"},
            {"content": "batteries", "project": "groceries"},
        ),
        (  # the model named the list too, and still kept the phrase in the task
            "put batteries on my groceries list",
            {"content": "batteries on my groceries", "project": "groceries"},
            {"content": "batteries", "project": "groceries"},
        ),
        (
            "Add call the plumber to the house move list.",
            {"content": "call the plumber"},
            {"content": "call the plumber", "project": "house move"},
        ),
    ],
)
def test_name_lists_takes_the_list_the_request_names(context, text, said, answered) -> None:
    named = name_lists(Answer(IntentCall("add_task", said)), context(text))
    assert named.call.parameters == answered


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("add milk to my to-do list", {"content": "milk"}),  # the generic list names nothing
        ("remind me to buy a shopping list pad", {"content": "buy a shopping list pad"}),
        ("add eggs to my shopping list", {"content": "eggs", "project": "Shopping"}),  # filled
    ],
)
def test_name_lists_leaves_what_names_no_list_alone(context, text, said) -> None:
    answer = Answer(IntentCall("add_task", said))
    assert name_lists(answer, context(text)) is answer
    weather = Answer(IntentCall("get_weather", {"location": "Paris"}))
    assert name_lists(weather, context("weather in Paris for my packing list")) is weather


def test_fill_spoken_takes_a_priority_said_apart_from_the_task(context) -> None:
    said = Answer(IntentCall("add_task", {"content": "clean out the garage"}))
    filled = fill_spoken(said, context("low priority, clean out the garage"))
    assert filled.call.parameters == {"content": "clean out the garage", "priority": 4}
    kept = Answer(IntentCall("add_task", {"content": "important documents"}))
    assert fill_spoken(kept, context("add important documents to my list")) is kept


@pytest.mark.parametrize(
    ("content", "due", "kept"),
    [
        ("put the bins out wednesday night", "wednesday night", "put the bins out"),
        ("buy concert tickets on Friday at 10", "friday at 10", "buy concert tickets"),
        ("pay rent, due monday.", "monday", "pay rent"),
        ("get gas on the way to work", "tomorrow", "get gas on the way to work"),  # not repeated
        ("watch the fortnight", "night", "watch the fortnight"),  # not the same words
        ("tomorrow", "tomorrow", "tomorrow"),  # never the whole value
        ("on friday", "friday", "on friday"),  # nothing but the connector would be left
    ],
)
def test_detach_dates_cuts_a_repeated_date_from_the_end_of_text_slots(
    context, content: str, due: str, kept: str
) -> None:
    call = IntentCall("add_task", {"content": content, "due": due, "priority": 2})
    detached = detach_dates(Answer(call), context())
    assert detached.call.parameters == {"content": kept, "due": due, "priority": 2}


def test_detach_dates_covers_every_date_slot(context) -> None:
    call = IntentCall("get_weather", {"location": "Boston tomorrow", "date": "tomorrow"})
    detached = detach_dates(Answer(call), context())
    assert detached.call.parameters == {"location": "Boston", "date": "tomorrow"}
    untouched = Answer(IntentCall("send_email", {"to": "mum", "body": "see you tomorrow"}))
    assert detach_dates(untouched, context()) is untouched


@pytest.mark.parametrize(
    ("text", "said", "expected"),
    [
        # A time left in the task with no due: it becomes the due, its "at" stays out of both.
        ("remember to pick up the kids at 3:30", {"content": "pick up the kids at 3:30"},
         {"content": "pick up the kids", "due": "3:30"}),
        ("feed the cat at 5", {"content": "feed the cat at 5"},
         {"content": "feed the cat", "due": "5"}),  # "the cat at 5" is no time
        ("order lenses on december 1st 2026", {"content": "order lenses on december 1st 2026"},
         {"content": "order lenses", "due": "december 1st 2026"}),
        # Said together with the due: joined, as the request says it.
        ("Remind me to take my meds at 8 pm every day.",
         {"content": "take my meds at 8 pm", "due": "every day"},
         {"content": "take my meds", "due": "8 pm every day"}),
        ("walk the dog at seven, tonight", {"content": "walk the dog at seven", "due": "tonight"},
         {"content": "walk the dog", "due": "seven, tonight"}),
        # Left alone: not a time, not said together, or nothing of the task would be left.
        ("get gas on the way to work", {"content": "get gas on the way to work"}, None),
        ("read chapter 2 of the book", {"content": "read chapter 2"}, None),
        ("call mum at 5 on friday", {"content": "call mum at 5", "due": "friday"}, None),
        ("remind me at noon", {"content": "noon"}, None),
        ("table at the 5th avenue diner", {"content": "table at the 5th avenue"}, None),
    ],
)  # fmt: skip
def test_attach_trailing_dates_moves_a_time_left_in_the_task_to_its_due(
    context, text: str, said: dict[str, str], expected: dict[str, str] | None
) -> None:
    moved = attach_trailing_dates(Answer(IntentCall("add_task", said)), context(text))
    assert moved.call.parameters == (expected or said)


def test_attach_trailing_dates_needs_a_date_slot(context) -> None:
    weather = Answer(IntentCall("get_weather", {"location": "new york city friday"}))
    moved = attach_trailing_dates(weather, context("weather new york city friday"))
    assert moved.call.parameters == {"location": "new york city", "date": "friday"}
    email = Answer(IntentCall("send_email", {"to": "mum", "body": "see you at 5"}))
    assert attach_trailing_dates(email, context("email mum see you at 5")) is email


def test_resolve_dates_covers_the_date_slots_only(context) -> None:
    task = IntentCall("add_task", {"content": "call the bank", "due": "tomorrow at 5pm"})
    weather = IntentCall("get_weather", {"location": "Paris", "date": "friday"})
    email = IntentCall("send_email", {"to": "mum", "subject": "tomorrow"})
    assert resolve_dates(Answer(task), context()).resolved == {
        "due": {"text": "tomorrow at 5pm", "iso": "2026-11-26T17:00:00+01:00"}
    }
    assert resolve_dates(Answer(weather), context()).resolved == {
        "date": {"text": "friday", "iso": "2026-11-27"}  # a date slot keeps the day only
    }
    assert resolve_dates(Answer(email), context()).resolved == {}


def test_a_slot_declared_as_text_is_neither_cut_moved_nor_resolved(resolver: DateResolver) -> None:
    task = replace(BUILTIN_INTENTS[0], kinds={"due": "text"})
    as_text = Catalogue([task, BUILTIN_INTENTS[-1]])
    context = Context(as_text, resolver, "feed the cat at 5pm", "UTC", NOW)
    answer = Answer(IntentCall("add_task", {"content": "feed the cat at 5pm", "due": "5pm"}))
    assert apply_steps(answer.call, context) == answer


def test_the_pipeline_runs_the_enabled_steps_in_its_own_order(context) -> None:
    text = "remind me to take my meds at 8 pm every day, it's urgent"
    call = IntentCall("add_task", {"content": "take my meds at 8 pm", "due": "every day"})
    everything = apply_steps(call, context(text))
    assert everything.call.parameters == {
        "content": "take my meds",
        "due": "8 pm every day",
        "priority": 1,
    }
    assert everything.resolved["due"]["text"] == "8 pm every day"
    # The order of the setting's list does not matter; a step left out does not run.
    reordered = apply_steps(call, context(text), ["resolve_dates", "attach_trailing_dates"])
    assert reordered.call.parameters == {"content": "take my meds", "due": "8 pm every day"}
    assert reordered.resolved == everything.resolved
    nothing = apply_steps(call, context(text), [])
    assert nothing == Answer(call)

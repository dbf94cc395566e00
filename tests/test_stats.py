"""Dataset stats: counts per intent, slot and slot combination, and text lengths."""

from __future__ import annotations

import json

from rich.console import Console

from intentforge.data.stats import dataset_stats, stats_table

ROWS = [
    {"text": "remind me to buy milk tomorrow", "intent": "add_task",
     "parameters": {"content": "buy milk", "due": "tomorrow"}, "source": "templates",
     "style": "lower"},
    {"text": "Add call mum, p1.", "intent": "add_task",
     "parameters": {"content": "call mum", "priority": 1}, "source": "templates",
     "style": "whisper"},
    {"text": "weather", "intent": "get_weather", "parameters": {}, "source": "dev"},
    {"text": "tell me a joke please", "intent": "none", "parameters": {}, "source": "llm"},
]  # fmt: skip


def test_stats_count_intents_slots_combinations_and_lengths():
    stats = dataset_stats(ROWS)
    assert stats["rows"] == 4
    assert stats["intents"] == {"add_task": 2, "get_weather": 1, "none": 1}
    assert stats["slots"] == {
        "add_task.content": 2,
        "add_task.due": 1,
        "add_task.priority": 1,
    }
    assert stats["slot_combinations"] == {
        "add_task(content, due)": 1,
        "add_task(content, priority)": 1,
        "get_weather()": 1,
        "none()": 1,
    }
    assert stats["sources"] == {"dev": 1, "llm": 1, "templates": 2}
    assert stats["styles"] == {"-": 2, "lower": 1, "whisper": 1}
    lengths = stats["length_words"]
    assert (lengths["min"], lengths["max"], lengths["mean"]) == (1, 6, 4.0)
    assert sum(lengths["histogram"].values()) == 4
    json.dumps(stats)


def test_stats_table_renders_every_section():
    console = Console(record=True, width=100)
    console.print(stats_table(dataset_stats(ROWS)))
    text = console.export_text()
    for needle in ("add_task", "add_task.due", "get_weather()", "length in words", "50.0 %"):
        assert needle in text


def test_stats_of_an_empty_dataset():
    stats = dataset_stats([])
    assert stats["rows"] == 0 and stats["length_words"] == {}
    Console(record=True).print(stats_table(stats))

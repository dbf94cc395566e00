"""Recognition hints: the assistant's own words, from the catalogue and the user's names."""

from __future__ import annotations

from pathlib import Path

from intentforge.catalogue import load_catalogue
from intentforge.config import Settings, VoiceConfig, load_settings
from intentforge.voice.hints import example_phrases, hotwords_for, recognition_hints
from intentforge.voice.stt import transcriber_from


def settings_with(tmp_path: Path, **voice: object) -> Settings:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("Anna Smith: anna@example.com\nBob: {email: bob@example.com}\n")
    return load_settings(
        None,
        {
            "actions": {"contacts_file": str(contacts), "home_location": "Leeds"},
            "voice": voice,
        },
    )


def test_phrases_are_the_fixed_words_of_in_scope_examples() -> None:
    phrases = example_phrases(load_catalogue())
    assert {"remind me to", "what's the weather in", "send an email to"} <= set(phrases)
    assert not any("{" in p for p in phrases)
    assert "play some jazz" not in phrases  # an out-of-scope example is not the assistant's


def test_hints_hold_lists_contacts_and_home_and_are_off_by_default(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    hints = recognition_hints(settings, load_catalogue()).split(", ")
    assert {"Shopping", "Anna Smith", "Bob", "Leeds", "add"} <= set(hints)
    assert len(hints) == len(set(hints))
    assert hotwords_for(settings, load_catalogue()) is None
    assert hotwords_for(settings_with(tmp_path, stt_hints=True), load_catalogue()) == ", ".join(
        hints
    )


def test_hints_change_the_transcript_cache_key_and_their_absence_does_not() -> None:
    plain = transcriber_from(VoiceConfig())
    assert "hotwords" not in plain.key  # caches made before hints existed stay valid
    hinted = transcriber_from(VoiceConfig(), hotwords="add, remind me to")
    assert hinted.key != plain.key and "remind me to" in hinted.key

"""Hear the assistant's language: the words people say to it, as hint phrases for Whisper.

Speech-to-text knows nothing of what an assistant is asked, so "add cereal to my shopping list"
can come out as "and serial to my shopping list". faster-whisper takes `hotwords`, text placed
before the utterance as if it had just been said, which makes those words likelier. The phrases
come from the catalogue and the user's own names: the fixed words of each intent's examples
("remind me to", "what's the weather in", "send an email to"), the list names, the contacts and
the home location. `voice.stt_hints` switches it on; docs/voice.md has what the spoken judge
measured with and without.
"""

from __future__ import annotations

import re

from intentforge.actions.contacts import Contacts
from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from intentforge.config import Settings
from intentforge.data import lexicons

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def example_phrases(catalogue: Catalogue) -> list[str]:
    """The fixed words of every in-scope example, split at its slots, in catalogue order."""
    phrases: dict[str, None] = {}
    for intent in catalogue.intents:
        if intent.name == OUT_OF_SCOPE:
            continue
        for example in intent.examples:
            for fragment in _PLACEHOLDER.split(example):
                fragment = " ".join(fragment.split())
                if fragment:
                    phrases.setdefault(fragment, None)
    return list(phrases)


def list_names(catalogue: Catalogue) -> list[str]:
    """The names of the user's lists: those a list slot declares, else the built-in ones the
    generated training data uses."""
    declared = [
        value
        for intent in catalogue.intents
        for slot, kind in intent.slot_kinds.items()
        if kind == "list"
        for value in intent.slot_values.get(slot, ())
    ]
    return declared or list(lexicons.projects())


def recognition_hints(settings: Settings, catalogue: Catalogue) -> str:
    """Hint phrases for speech-to-text: example phrases, list names, contacts, home location."""
    contacts = Contacts.load(settings.actions.contacts_file).contacts
    words = [
        *example_phrases(catalogue),
        *list_names(catalogue),
        *(c.name for c in contacts),
        *([settings.actions.home_location] if settings.actions.home_location else []),
    ]
    return ", ".join(dict.fromkeys(words))


def hotwords_for(settings: Settings, catalogue: Catalogue) -> str | None:
    """The hotwords the configured speech-to-text is given (None when voice.stt_hints is off)."""
    return recognition_hints(settings, catalogue) if settings.voice.stt_hints else None

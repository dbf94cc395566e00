"""The offline generator's word lists and phrasings, read from package data files.

Lexicons live in `lexicons/` (YAML or one-entry-per-line TXT, `#` comments) and the phrasings of the
built-in intents in `phrasings/<intent>.yaml`: widening the data means editing text, not code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from intentforge.errors import IntentforgeError

_PACKAGE = "intentforge.data"


def _read(folder: str, name: str) -> str:
    try:
        return (resources.files(_PACKAGE) / folder / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IntentforgeError(
            f"package data file {folder}/{name} is missing; reinstall intentforge"
        ) from None


@cache
def load_yaml(folder: str, name: str) -> Any:
    """A YAML package data file, parsed once per process."""
    return yaml.safe_load(_read(folder, name))


@cache
def load_list(name: str) -> tuple[str, ...]:
    """A TXT lexicon: one entry per line; blank lines and `#` comments skipped."""
    lines = (line.strip() for line in _read("lexicons", name).splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def tasks(kind: str = "actions") -> tuple[str, ...]:
    """Task contents: `actions` ("buy milk"), `items` ("eggs") or `things` ("the MOT")."""
    return tuple(load_yaml("lexicons", "tasks.yaml")[kind])


def places() -> tuple[str, ...]:
    return load_list("places.txt")


def projects() -> tuple[str, ...]:
    return load_list("projects.txt")


def contacts() -> tuple[str, ...]:
    """Every recipient form: names, relations, descriptions and e-mail addresses (written and
    spoken: "jane at gmail dot com")."""
    doc = load_yaml("lexicons", "contacts.yaml")
    groups = ("names", "relations", "described", "emails", "spoken_emails")
    return tuple(v for group in groups for v in doc[group])


def dates(kind: str = "due") -> tuple[str, ...]:
    """When, as spoken: `due` (standalone), `noun` (after "for"/"due"/"by") or `weather` (days).

    A part before "|" is said but not part of the slot: "on |friday" labels "friday". `due` and
    `noun` also get every other "<day> <time>" pairing of the `compose` section.
    """
    doc = load_yaml("lexicons", "dates.yaml")
    listed = tuple(doc[kind])
    if kind not in {"due", "noun"}:
        return listed
    days, times = doc["compose"]["days"], doc["compose"]["times"]
    pairs = (
        f"{day} {time}"
        for i, day in enumerate(days)
        for j, time in enumerate(times)
        if (i + j) % 2 == 0
    )
    return listed + tuple(dict.fromkeys(p for p in pairs if p not in listed))


def priorities(kind: str = "suffix") -> dict[str, int]:
    """Spoken priority -> 1 (urgent) .. 4 (normal); `suffix` or `adjective` phrases."""
    return {str(k): int(v) for k, v in load_yaml("lexicons", "priorities.yaml")[kind].items()}


def email_parts(kind: str) -> tuple[str, ...]:
    """`subjects` or `bodies` of e-mails."""
    return tuple(load_yaml("lexicons", "email.yaml")[kind])


def phrasings(intent: str) -> dict[str, list[str]] | None:
    """The built-in phrasings of `intent` ({"imperative": [...], "plain": [...]}), if any."""
    if not (resources.files(_PACKAGE) / "phrasings" / f"{intent}.yaml").is_file():
        return None
    doc = load_yaml("phrasings", f"{intent}.yaml")
    return {kind: [str(t) for t in doc.get(kind) or ()] for kind in ("imperative", "plain")}


def out_of_scope() -> dict[str, Any]:
    """Out-of-scope topics ({"fill": {...}, "topics": {name: {"keywords", "templates"}}})."""
    doc: dict[str, Any] = load_yaml("phrasings", "none.yaml")
    return doc

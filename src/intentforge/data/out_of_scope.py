"""Out-of-scope phrasings: the topics of data/phrasings/none.yaml and Home Assistant's other
intents, minus whatever a user intent makes in scope, with the lists that fill them."""

from __future__ import annotations

import re

from intentforge.catalogue import BUILTIN_INTENTS, OUT_OF_SCOPE, Catalogue, Intent
from intentforge.data import home_assistant, lexicons


def is_builtin(intent: Intent) -> bool:
    """Whether `intent` is a built-in one as shipped (a user file may redefine its slots)."""
    return any(b.name == intent.name and b.parameters is intent.parameters for b in BUILTIN_INTENTS)


def templates(catalogue: Catalogue) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """None-intent templates, minus topics a user intent makes in scope; and their fill lists."""
    doc = lexicons.out_of_scope()
    user_text = " ".join(
        " ".join([i.name.replace("_", " "), i.description, *i.examples]).lower()
        for i in catalogue.intents
        if i.name != OUT_OF_SCOPE and not is_builtin(i)
    )
    templates: list[str] = []
    for topic in doc["topics"].values():
        keywords = topic.get("keywords") or []
        if any(re.search(rf"\b{re.escape(k.lower())}\b", user_text) for k in keywords):
            continue
        templates.extend(str(t) for t in topic["templates"])
    templates.extend(home_assistant.out_of_scope(doc["home_assistant"], user_text))
    fill = {name: tuple(str(v) for v in values) for name, values in doc["fill"].items()}
    fill |= {
        "task": lexicons.tasks("actions"),
        "item": lexicons.tasks("items"),
        "place": lexicons.places(),
        "contact": tuple(c for c in lexicons.contacts() if "@" not in c),
        "date": lexicons.dates("noun"),  # after "for", "on", "to": no preposition of its own
        "body": lexicons.email_parts("bodies"),
        "subject": lexicons.email_parts("subjects"),
        "project": lexicons.projects(),
    }
    return templates, fill

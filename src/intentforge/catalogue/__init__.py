"""The intent catalogue: one declaration per intent, from which schema, grammar and data derive."""

from intentforge.catalogue.builtin import BUILTIN_INTENTS
from intentforge.catalogue.catalogue import OUT_OF_SCOPE, REFUSED_WORDS, Catalogue, IntentCall
from intentforge.catalogue.intent import Intent
from intentforge.catalogue.loading import load_catalogue

__all__ = [
    "BUILTIN_INTENTS",
    "OUT_OF_SCOPE",
    "REFUSED_WORDS",
    "Catalogue",
    "Intent",
    "IntentCall",
    "load_catalogue",
]

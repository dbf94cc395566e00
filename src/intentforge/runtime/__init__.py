"""Inference runtime: a GGUF model, the catalogue grammar, and deterministic date resolution."""

from intentforge.runtime.dates import DATE_SLOTS, DateResolver, ResolvedSpan, resolve_call
from intentforge.runtime.engine import Cancelled, Generation, check_model_file
from intentforge.runtime.parser import Parser, ParseResult, default_model_path

__all__ = [
    "DATE_SLOTS",
    "Cancelled",
    "DateResolver",
    "Generation",
    "ParseResult",
    "Parser",
    "ResolvedSpan",
    "check_model_file",
    "default_model_path",
    "resolve_call",
]

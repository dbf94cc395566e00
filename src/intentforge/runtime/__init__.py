"""Inference runtime: a GGUF model, the catalogue grammar, and deterministic date resolution."""

from intentforge.runtime.conversation import ConversationExpired, Conversations
from intentforge.runtime.dates import DateResolver, ResolvedSpan
from intentforge.runtime.engine import Cancelled, Generation, check_model_file
from intentforge.runtime.parser import CallResult, Parser, ParseResult, default_model_path
from intentforge.runtime.postprocess import Answer, Context, apply_steps

__all__ = [
    "Answer",
    "CallResult",
    "Cancelled",
    "Context",
    "ConversationExpired",
    "Conversations",
    "DateResolver",
    "Generation",
    "ParseResult",
    "Parser",
    "ResolvedSpan",
    "apply_steps",
    "check_model_file",
    "default_model_path",
]

"""Generate dataset rows with an LLM behind any OpenAI-compatible endpoint (OpenRouter by default).

Prompts come from the catalogue (descriptions, slots, example phrasings). Work is planned per
intent and per slot combination so no intent or combination dominates; every returned row is
validated against the catalogue and span-checked before it is kept; kept rows go to a JSONL ledger
in fsynced checkpoints so a killed run resumes where it stopped.

One module per concern: `plan` (quotas and jobs), `variety` (styles, speakers, topics), `prompt`
(the messages), `endpoint` (key, client, retries), `reply` (reading and checking rows), `workers`
(the concurrent loop and checkpoints), `generate` (the entry point) and `report`.
"""

from intentforge.data.llm.generate import generate_with_llm
from intentforge.data.llm.report import GenerationReport

__all__ = ["GenerationReport", "generate_with_llm"]

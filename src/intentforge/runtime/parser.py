"""Text -> validated intent: prompt, constrained generation, validation, date resolution."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE, REFUSED_WORDS, Catalogue, IntentCall
from intentforge.catalogue.grammar import CALL_SEPARATOR
from intentforge.config import RuntimeConfig, Settings
from intentforge.errors import IntentforgeError, ModelOutputError
from intentforge.export.manifest import read_manifest
from intentforge.prompt import normalise_text
from intentforge.runtime.dates import DateResolver, zone
from intentforge.runtime.engine import Abstain, Engine, Generation
from intentforge.runtime.followup import fill, is_cancel
from intentforge.runtime.parts import request_parts
from intentforge.runtime.postprocess import Context, apply_steps

# The out-of-scope threshold of a model that carries no calibrated one.
DEFAULT_REFUSE_AT = 0.3


@dataclass(frozen=True)
class CallResult:
    """One call of an answer after post-processing: `resolved`, `missing` and `question` as in
    ParseResult, for this call alone."""

    call: IntentCall
    resolved: dict[str, Any]
    missing: tuple[str, ...] = ()
    question: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.call.to_dict(),
            "missing": list(self.missing),
            "question": self.question,
            "resolved": self.resolved,
        }


@dataclass
class ParseResult:
    """One parsed request.

    `resolved` maps each date slot to `{"text": span as spoken, "iso": ISO 8601 or None}`: a
    `datetime` slot (`due`) is a date-time with UTC offset when a time was said
    ("2026-11-26T17:00:00+01:00"), else a date; a `date` slot is always a date. `timings_ms` has
    tokenize, prefill, decode, grammar, validate, resolve (the post-processing steps after
    validation, runtime/postprocess.py) and total.
    `missing` names the required slots the request did not say, and `question` asks for the
    first of them; such a call is incomplete and nothing acts on it. `conversation_id` is set
    once runtime/conversation.py holds it for the follow-up that answers the question.

    A request of several requests ("add milk and what's the weather") has several calls, in the
    order said: `call`, `resolved`, `missing` and `question` are the first one's (so clients of
    one call keep working) and `rest` holds the others; `calls` lists them all. The question the
    answer asks is `waiting`'s, the first incomplete call's: only that call waits for the
    follow-up, the complete ones are acted on.
    """

    call: IntentCall
    resolved: dict[str, Any]
    raw: str
    timings_ms: dict[str, float]
    tokens: int
    prompt_tokens: int = 0
    steps: int = 0  # sequential evaluations of the model (prefill included): what latency is
    timezone: str = "UTC"
    # True when the grammar never overrode the model: the model alone would have said the same.
    unconstrained: bool = False
    missing: tuple[str, ...] = ()
    question: str | None = None
    conversation_id: str | None = None
    rest: tuple[CallResult, ...] = ()

    @property
    def calls(self) -> tuple[CallResult, ...]:
        """Every call, in the order said (one or more)."""
        return (CallResult(self.call, self.resolved, self.missing, self.question), *self.rest)

    @property
    def waiting(self) -> CallResult | None:
        """The first call that misses a required slot: the one whose question is asked."""
        return next((c for c in self.calls if c.missing), None)

    def only(self, one: CallResult) -> ParseResult:
        """This answer reduced to the call `one` (what a conversation holds for its follow-up)."""
        return self._with_calls([one])

    def with_call(self, index: int, one: CallResult) -> ParseResult:
        """This answer with its call at `index` replaced by `one` (a follow-up completed it)."""
        calls = list(self.calls)
        calls[index] = one
        return self._with_calls(calls)

    def _with_calls(self, calls: Sequence[CallResult]) -> ParseResult:
        first, *rest = calls
        return replace(
            self,
            call=first.call,
            resolved=first.resolved,
            missing=first.missing,
            question=first.question,
            rest=tuple(rest),
        )

    def to_dict(self) -> dict[str, Any]:
        """The first call at the top level as before, `calls` all of them; the top-level
        `missing` and `question` are the ones the answer asks (`waiting`'s)."""
        waiting = self.waiting
        return {
            **self.call.to_dict(),
            "missing": list(waiting.missing) if waiting else [],
            "question": waiting.question if waiting else None,
            "conversation_id": self.conversation_id,
            "resolved": self.resolved,
            "timezone": self.timezone,
            "raw": self.raw,
            "tokens": {
                "prompt": self.prompt_tokens,
                "generated": self.tokens,
                "steps": self.steps,
            },
            "timings_ms": self.timings_ms,
            "calls": [c.to_dict() for c in self.calls],
        }


def default_model_path(settings: Settings) -> Path:
    """runtime.model_path, else the newest GGUF under export.out_dir."""
    if settings.runtime.model_path is not None:
        return settings.runtime.model_path
    found = sorted(settings.export.out_dir.glob("*.gguf"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise IntentforgeError(
            f"no model found in {settings.export.out_dir}/: build one with `intentforge build`, "
            "or set runtime.model_path (INTENTFORGE_RUNTIME__MODEL_PATH, --model) to a GGUF file",
            status_code=503,
        )
    return found[-1]


class Parser:
    """A loaded model that turns requests into intents. One caller at a time (calls serialise)."""

    def __init__(self, model_path: Path, catalogue: Catalogue, config: RuntimeConfig) -> None:
        self.model_path = Path(model_path)
        self.catalogue = catalogue
        self.config = config
        zone(config.timezone)
        self._engine = Engine(
            self.model_path,
            catalogue.grammar(max_calls=config.max_calls),
            config,
            span_end=_span_end(catalogue),
            whole_spans=(REFUSED_WORDS,),
        )
        self._dates = DateResolver()
        self.refuse_at = refuse_at_for(self.model_path, config)
        self._refusal = Abstain(
            at=b'{"intent":"',
            choice=f'{OUT_OF_SCOPE}"'.encode(),
            others=tuple(f'{n}"'.encode() for n in catalogue.names if n != OUT_OF_SCOPE),
            min_p=self.refuse_at,
        )
        self._abstain = self._refusal if self.refuse_at < 1 else None
        # The intent decision is the first token after '{"intent":"': where measuring it stops.
        self._decided = len(self._engine.tokenize(self._refusal.at.decode(), special=False)) + 1

    def close(self) -> None:
        """Free the model (also done when the Parser is garbage-collected)."""
        self._engine.close()

    def prompt_tokens(self, text: str) -> list[int]:
        """Token ids of the prompt for `text` (the request as plain text, never chat markers):
        what the trainer feeds too."""
        return self._engine.prompt_tokens(text)

    def generate(
        self,
        text: str,
        *,
        grammar: bool,
        max_tokens: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Raw greedy generation for `text`, for evaluation: `stopped_by_eos` asks the model.
        `grammar` applies the grammar `parse` uses."""
        tokens = self.prompt_tokens(_require_text(text))
        return self._engine.generate(
            tokens,
            grammar=self._grammar_for(normalise_text(text)) if grammar else False,
            max_tokens=max_tokens or self.config.max_tokens,
            check_eos=True,
            cancel=cancel,
        )

    def refusal_share(self, text: str) -> float:
        """The share of the probability out-of-scope gets where the model chooses the intent
        for `text` (what runtime.refuse_at is compared with): calibration measures it."""
        gen = self._engine.generate(
            self.prompt_tokens(_require_text(text)),
            grammar=self._grammar_for(normalise_text(text)),
            max_tokens=self._decided,
            abstain=replace(self._refusal, min_p=math.inf),  # measure, never override
        )
        if gen.abstain_share is None:
            raise ModelOutputError(f"the answer never reached the intent choice: {gen.text!r}")
        return gen.abstain_share

    def parse(
        self,
        text: str,
        *,
        timezone: str | None = None,
        now: datetime | None = None,
        cancel: threading.Event | None = None,
    ) -> ParseResult:
        """The intent for `text` after the post-processing steps (runtime.postprocess), date
        slots resolved in `timezone` relative to `now`; out-of-scope when the model gives it
        runtime.refuse_at of the intent's probability.

        Raises ModelOutputError (422) when the model does not finish a valid intent within
        runtime.max_tokens; never returns a made-up call.
        """
        start = time.perf_counter()
        tz = timezone or self.config.timezone
        zone(tz)
        tokens = self.prompt_tokens(_require_text(text))
        said = normalise_text(text)  # what the model reads: spans and rules work on it
        tokenized = time.perf_counter()
        gen = self._engine.generate(
            tokens,
            grammar=self._grammar_for(said),
            max_tokens=self.config.max_tokens,
            cancel=cancel,
            abstain=self._abstain,
        )
        written = gen.text if gen.stopped_by_eos else self._refusal_cut_short(gen.text)
        if written is None:
            raise ModelOutputError(
                f"the model did not finish an intent within {self.config.max_tokens} tokens "
                f"(runtime.max_tokens); got {gen.text[:80]!r}"
            )
        generated = time.perf_counter()
        try:
            calls = _one_refusal_in_a_row(self.catalogue.validate_calls(written))
        except IntentforgeError as exc:
            raise ModelOutputError(f"the model's output is not a valid intent: {exc}") from None
        validated = time.perf_counter()
        answers = []
        for call, part in zip(calls, request_parts(said, calls), strict=True):
            context = Context(self.catalogue, self._dates, part, tz, now or datetime.now(UTC))
            done_call = apply_steps(call, context, self.config.postprocess)
            answers.append(
                CallResult(
                    done_call.call,
                    done_call.resolved,
                    self.catalogue.missing(done_call.call),
                    self.catalogue.question(done_call.call),
                )
            )
        answer = answers[0]
        done = time.perf_counter()
        timings = {
            "tokenize": (tokenized - start) * 1000,
            "prefill": gen.timings_ms["prefill_ms"],
            "decode": gen.timings_ms["decode_ms"],
            "grammar": gen.timings_ms["grammar_ms"],
            "generate": (generated - tokenized) * 1000,
            "validate": (validated - generated) * 1000,
            "resolve": (done - validated) * 1000,
            "total": (done - start) * 1000,
        }
        return ParseResult(
            call=answer.call,
            resolved=answer.resolved,
            raw=gen.text,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            tokens=gen.n_tokens,
            prompt_tokens=gen.prompt_tokens,
            steps=gen.steps,
            timezone=tz,
            unconstrained=gen.corrected_tokens == 0 and gen.forced_tokens == 0,
            missing=answer.missing,
            question=answer.question,
            rest=tuple(answers[1:]),
        )

    def follow_up(
        self,
        pending: ParseResult,
        text: str,
        *,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> ParseResult:
        """`pending`, an incomplete call (one: a conversation holds `ParseResult.only` the waiting
        call), with the slot its question asked for filled from
        `text`, the answer (runtime/followup.py; no model call), then post-processed like any
        call. "never mind" drops it (out of scope: nothing is done); an answer that does not
        fit leaves the slot missing, to be asked again."""
        start = time.perf_counter()
        tz = timezone or pending.timezone
        zone(tz)
        said = normalise_text(_require_text(text))
        if not pending.missing:
            return pending
        if is_cancel(said):
            call = IntentCall(OUT_OF_SCOPE, {})
        else:
            call = fill(self.catalogue, pending.call, pending.missing[0], said)
        context = Context(self.catalogue, self._dates, said, tz, now or datetime.now(UTC))
        answer = apply_steps(call, context, self.config.postprocess)
        ms = round((time.perf_counter() - start) * 1000, 2)
        return ParseResult(
            call=answer.call,
            resolved=answer.resolved,
            raw=pending.raw,
            timings_ms={"resolve": ms, "total": ms},
            tokens=0,
            timezone=tz,
            missing=self.catalogue.missing(answer.call),
            question=self.catalogue.question(answer.call),
        )

    def _refusal_cut_short(self, text: str) -> str | None:
        """The answer when runtime.max_tokens ended it while an out-of-scope call was copying
        the words it refuses (a long request refused): the calls before, then that refusal.
        None when the cut is anywhere else: nothing in-scope is guessed from half a call."""
        *done, last = text.split(CALL_SEPARATOR)
        refusal = self.catalogue.render(IntentCall(OUT_OF_SCOPE, {}))
        if not last.startswith(refusal[: refusal.index(",")]):
            return None
        return CALL_SEPARATOR.join([*done, refusal])

    def _grammar_for(self, said: str) -> str | bool:
        """The grammar for the normalised request `said`: text slots (task, place, recipient...)
        may only copy spans of it; True (the engine's catalogue grammar) with span_slots off."""
        if not self.config.span_slots:
            return True
        return self.catalogue.grammar(said, max_calls=self.config.max_calls)


def refuse_at_for(model_path: Path, config: RuntimeConfig) -> float:
    """runtime.refuse_at if set, else the threshold calibrated into the model's manifest, else
    DEFAULT_REFUSE_AT."""
    if config.refuse_at is not None:
        return config.refuse_at
    try:
        calibrated = read_manifest(model_path).refuse_at
    except IntentforgeError:  # no or unreadable manifest: a model from elsewhere
        calibrated = None
    return calibrated if calibrated is not None else DEFAULT_REFUSE_AT


def _span_end(catalogue: Catalogue) -> str:
    """What closes a call whose last slot is a text value, as training renders it ('"}}')."""
    rendered = catalogue.render(IntentCall(OUT_OF_SCOPE, {}), said="x")
    return rendered[rendered.rindex('"x"') + 2 :]


def _one_refusal_in_a_row(calls: list[IntentCall]) -> list[IntentCall]:
    """Out-of-scope calls next to each other are one refusal ("tell me a joke and sing": the
    model copies each part it refuses, the answer refuses once)."""
    return [
        call
        for i, call in enumerate(calls)
        if not (i and call.intent == OUT_OF_SCOPE and calls[i - 1].intent == OUT_OF_SCOPE)
    ]


def _require_text(text: str) -> str:
    if not normalise_text(text):
        raise IntentforgeError(
            "the request text is empty: say or type what you want done", status_code=400
        )
    return text

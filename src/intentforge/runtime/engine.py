"""The llama.cpp decoding loop: greedy, grammar-constrained, with jump-forward over fixed text.

Each step evaluates the pending tokens, chooses the next token from the logits and appends it;
the features are pieces of that loop, each in its own module:
- constraint.py: the grammar is checked against the greedy token first and applied to the whole
  vocabulary only when it rejects that token. Applying it to every candidate at every step costs
  about half a forward pass of SmolLM2; a model trained on the canonical rendering is rejected
  rarely (bench/parse_latency.py).
- jump_forward.py: text the grammar allows in one way only is appended and evaluated as one batch.
- abstain.py: out-of-scope wins the intent decision with a share of the probability.
- kv_cache.py: the evaluated tokens, reused by prefix across requests.
Completion is known from the grammar (only end-of-turn is left), so the end-of-turn token is
never sampled; `check_eos` still asks the model, for evaluation of stop behaviour.

- draft.py: inside a text value copied from the request, the request's next tokens are drafted
  and verified in one batched evaluation (prompt lookup): the model chooses at each drafted
  position as it would have step by step, and the draft is kept while it agrees. Fixed text the
  draft spells is taken from the batch as jump-forward would append it; fixed text jump-forward
  held back for the model (Forced.likely) is the next draft.
A batch is not free on a CPU (2 tokens cost ~2x one, 8 ~3.4x), so drafts are short but where
they are mostly right (a refusal's copy of the request).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError
from intentforge.prompt import prompt_token_ids
from intentforge.runtime.abstain import Abstain, choice_share
from intentforge.runtime.constraint import Candidates, Constraint
from intentforge.runtime.draft import PromptLookup
from intentforge.runtime.jump_forward import Forced, JumpForward
from intentforge.runtime.kv_cache import KVCache, common_prefix

_GGUF_MAGIC = b"GGUF"


class Cancelled(IntentforgeError):
    """The caller gave up on this generation (timeout); the engine is free again."""

    status_code = 504


@dataclass(frozen=True)
class Generation:
    """Raw model output for one prompt: the text, whether the model ended it, and its cost."""

    text: str
    stopped_by_eos: bool
    n_tokens: int
    latency_ms: float
    prompt_tokens: int = 0
    forced_tokens: int = 0  # of n_tokens, appended by jump-forward without sampling
    # Batched evaluations of the model (prefill included): the sequential steps the answer took.
    steps: int = 0
    drafted_tokens: int = 0  # proposed by prompt lookup
    accepted_tokens: int = 0  # of drafted_tokens, the model's own choice too
    # Tokens (end-of-turn included) where the grammar overrode the model's greedy choice; with
    # none and nothing forced, generation without the grammar would have been identical.
    corrected_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    # With an Abstain: the share of the probability its choice had at the (first call's)
    # decision, whether or not it won; what calibrates runtime.refuse_at on held-out data.
    abstain_share: float | None = None


@dataclass
class _Decoding:
    """One generation in progress: the answer so far, what is left to evaluate, its counts."""

    prompt: list[int]
    pending: list[int]
    out: bytearray = field(default_factory=bytearray)
    n_generated: int = 0
    n_forced: int = 0
    n_corrected: int = 0
    n_steps: int = 0
    n_drafted: int = 0
    n_accepted: int = 0
    request: bytes = b""  # as the model read it: what text values copy
    stopped: bool = False
    prefilled: bool = False
    abstain_share: float | None = None
    # What jump-forward would append here, when a draft's check already looked.
    fixed: Forced | None = None
    # What jump-forward held back for the model to write (Forced.likely): the next draft.
    likely: bytes = b""
    timings_ms: dict[str, float] = field(
        default_factory=lambda: {"prefill_ms": 0.0, "decode_ms": 0.0, "grammar_ms": 0.0}
    )

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[key] += (time.perf_counter() - t0) * 1000

    def result(self, started: float, constrained: bool) -> Generation:
        latency_ms = (time.perf_counter() - started) * 1000
        stopped = self.stopped
        try:
            text = self.out.decode("utf-8")
        except UnicodeDecodeError:
            text = self.out.decode("utf-8", errors="replace")
            stopped = stopped and not constrained
        return Generation(
            text=text,
            stopped_by_eos=stopped,
            n_tokens=self.n_generated,
            latency_ms=latency_ms,
            prompt_tokens=len(self.prompt),
            forced_tokens=self.n_forced,
            steps=self.n_steps,
            drafted_tokens=self.n_drafted,
            accepted_tokens=self.n_accepted,
            corrected_tokens=self.n_corrected,
            timings_ms={k: round(v, 2) for k, v in self.timings_ms.items()},
            abstain_share=self.abstain_share,
        )


def check_model_file(path: Path) -> None:
    """Fail early, naming the file and the fix, for a missing or non-GGUF model file."""
    if not path.is_file():
        raise IntentforgeError(
            f"model file not found: {path}; build one with `intentforge build` "
            "or point runtime.model_path (--model) at a GGUF file",
            status_code=503,
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != _GGUF_MAGIC:
        raise IntentforgeError(
            f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF'); "
            "rebuild it with `intentforge build` or export a GGUF",
            status_code=503,
        )


class Engine:
    """One llama.cpp model and context; not thread-safe: one caller at a time."""

    def __init__(
        self,
        model_path: Path,
        grammar: str,
        config: RuntimeConfig,
        span_end: str = "",
        whole_spans: tuple[str, ...] = (),
    ) -> None:
        """`span_end`: the text that closes a call after a text value ends it ('"}}'), drafted
        after a copy that reaches the end of the request; `whole_spans`: the slots whose value
        is mostly all the request has left (a refusal's "said"), drafted whole."""
        check_model_file(model_path)
        # llama.cpp's OpenMP threads spin briefly while they wait: fastest on free cores, but on
        # shared ones a spinning thread steals the core its partner needs. Only effective before
        # libgomp loads (torch loads it too); a value the user exported wins.
        if config.omp_passive:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import llama_cpp

        self._lib = llama_cpp
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=config.n_ctx,
                n_threads=config.n_threads,
                n_threads_batch=config.n_threads,
                n_batch=config.n_batch,
                n_ubatch=config.n_batch,
                flash_attn=config.flash_attn,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise IntentforgeError(
                f"cannot load model {model_path}: corrupt or unsupported GGUF ({exc}); "
                "rebuild it with `intentforge build` or point runtime.model_path at another file",
                status_code=503,
            ) from None
        self.jump_forward = config.jump_forward
        self.n_ctx = config.n_ctx
        self._vocab = self._llm._model.vocab
        self.n_vocab = self._llm.n_vocab()
        self._lock = threading.Lock()
        self._cache = KVCache(self._llm, llama_cpp)
        self._candidates = Candidates(self.n_vocab)
        self._grammar: Constraint | None = self._compile(grammar)
        eog = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self._vocab, t)}
        self._jump = JumpForward(self._llm, eog)
        is_control = llama_cpp.llama_vocab_is_control
        markers = {t for t in range(self.n_vocab) if is_control(self._vocab, t)}
        self._lookup = PromptLookup(
            self._jump.tokens,
            config.draft_tokens,
            span_end.encode(),
            frozenset(s.encode() for s in whole_spans),
        )
        self._stops = eog | markers
        self._n_batch = config.n_batch
        self._template = self.prompt_tokens("")  # the prompt of an empty request

    def close(self) -> None:
        if self._grammar is not None:
            self._grammar.free()
            self._grammar = None
        self._llm.close()

    def _compile(self, grammar: str) -> Constraint:
        return Constraint.compile(self._lib, self._vocab, grammar, self._candidates)

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of `text`; `special` lets ChatML markers become their special tokens (and
        adds BOS if the model asks for one), exactly as the trainer's tokenizer does."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=special, special=special))

    def prompt_tokens(self, text: str) -> list[int]:
        """Token ids of the prompt for the request `text`: the template's markers as special
        tokens, the request as plain text, the ids training used (prompt.prompt_token_ids)."""

        def encode(piece: str, special: bool, first: bool) -> list[int]:
            return list(self._llm.tokenize(piece.encode("utf-8"), add_bos=first, special=special))

        return prompt_token_ids(text, encode)

    def generate(
        self,
        prompt_tokens: list[int],
        *,
        grammar: bool | str,
        max_tokens: int,
        check_eos: bool = False,
        cancel: threading.Event | None = None,
        abstain: Abstain | None = None,
    ) -> Generation:
        """Greedy continuation of `prompt_tokens`, at most `max_tokens` new tokens; `grammar`
        True constrains it with the engine's grammar, a GBNF string with that grammar instead.
        `abstain` (with a grammar) overrides greedy at each call's intent decision, see Abstain."""
        if len(prompt_tokens) + max_tokens > self.n_ctx:
            raise IntentforgeError(
                f"text too long: {len(prompt_tokens)} prompt tokens plus {max_tokens} to generate "
                f"exceed the context of {self.n_ctx} tokens; shorten the request",
                status_code=413,
            )
        with self._lock, self._constraint(grammar) as constraint:
            return self._generate(prompt_tokens, constraint, max_tokens, check_eos, cancel, abstain)

    @contextmanager
    def _constraint(self, grammar: bool | str) -> Iterator[Constraint | None]:
        """The constraint for one generation: the engine's grammar reset, a request's own grammar
        compiled for it (span slots) and freed after, or none."""
        if isinstance(grammar, str):
            constraint = self._compile(grammar)
            try:
                yield constraint
            finally:
                constraint.free()
            return
        if grammar and self._grammar is not None:
            self._grammar.reset()
            yield self._grammar
            return
        yield None

    def _generate(
        self,
        prompt_tokens: list[int],
        constraint: Constraint | None,
        max_tokens: int,
        check_eos: bool,
        cancel: threading.Event | None,
        abstain: Abstain | None,
    ) -> Generation:
        started = time.perf_counter()
        run = _Decoding(prompt_tokens, self._cache.reuse_prefix(prompt_tokens))
        run.request = self._request_text(prompt_tokens)
        while True:
            if constraint is not None and self.jump_forward and self._jump_forward(run, constraint):
                run.stopped = not check_eos or self._model_would_stop(run)
                break
            if run.n_generated >= max_tokens:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled: the request timed out")
            # Spans of the request, so drafts, come only with a grammar.
            if constraint is not None and (draft := self._draft(run, max_tokens)):
                if self._verify(run, draft, constraint, abstain, max_tokens):
                    break
                continue
            logits = self._step_logits(run)
            token = self._choose(run, logits, constraint, abstain)
            if self._lib.llama_vocab_is_eog(self._vocab, token):
                run.stopped = True
                break
            self._append(run, token, constraint)
        return run.result(started, constrained=constraint is not None)

    def _jump_forward(self, run: _Decoding, constraint: Constraint) -> bool:
        """Append the text the grammar fixes from here; whether the grammar is then done."""
        with run.timed("grammar_ms"):
            forced, done, run.likely = run.fixed or self._jump.forced_text(
                constraint, bytes(run.out)
            )
            run.fixed = None
            self._jump.accept(constraint, forced)
        if forced:
            run.out += forced
            # Counted as tokenized alone: joined to the answer, a forced ',' can merge into the
            # model's '"' and add no token, yet the text was not its choice.
            forced_tokens = self._jump.tokens(forced)
            run.n_forced += len(forced_tokens)
            run.pending, added = self._jump.join(
                self._cache, run.prompt, bytes(run.out), forced_tokens, run.pending
            )
            run.n_generated += added
        return done

    def _model_would_stop(self, run: _Decoding) -> bool:
        """Whether the model's own greedy choice after the answer so far is end-of-turn."""
        self._evaluate(run)
        best = int(np.argmax(self._cache.logits()))
        return bool(self._lib.llama_vocab_is_eog(self._vocab, best))

    def _request_text(self, prompt: list[int]) -> bytes:
        """The request's text inside `prompt`: what follows the template's head, to its end."""
        start = common_prefix(prompt, self._template)
        end = next((i for i in range(start, len(prompt)) if prompt[i] in self._stops), start)
        return bytes(self._llm.detokenize(prompt[start:end])) if end > start else b""

    def _draft(self, run: _Decoding, max_tokens: int) -> list[int]:
        """What the model may write next, once it is writing: fixed text jump-forward held back
        for it, or tokens of the request inside a text value (prompt lookup)."""
        if not run.prefilled or not run.pending:
            return []
        room = min(max_tokens - run.n_generated - 1, self._n_batch - len(run.pending))
        if room <= 0 or self._lookup.max_tokens <= 0:
            return []
        if run.likely:
            draft = self._jump.tokens(run.likely)
            run.likely = b""
        else:
            draft = self._lookup.draft(run.request, bytes(run.out))
        return draft[:room]

    def _verify(
        self,
        run: _Decoding,
        draft: list[int],
        constraint: Constraint,
        abstain: Abstain | None,
        max_tokens: int,
    ) -> bool:
        """Evaluate the pending tokens and `draft` in one batch, then choose at each drafted
        position exactly as a step would, keeping the draft while it agrees; the first own choice
        ends it. Text the grammar fixes after an accepted token is taken from the draft as
        jump-forward would append it, when the draft spells it with the same tokens. Whether
        the last choice was end-of-turn."""
        base = self._cache.n_tokens
        first = len(run.pending) - 1  # the logits after the last pending token choose draft[0]
        rows = self._cache.evaluate_each(run.pending + draft, first, run.timings_ms, "decode_ms")
        run.n_steps += 1
        run.n_drafted += len(draft)
        i = 0
        while True:
            evaluated = base + first + 1 + i  # the pending tokens and draft[:i]
            token = self._choose(run, rows[i], constraint, abstain)
            if self._lib.llama_vocab_is_eog(self._vocab, token):
                self._cache.keep(evaluated)
                run.stopped = True
                return True
            self._append(run, token, constraint)
            if i == len(draft) or token != draft[i]:
                self._cache.keep(evaluated)  # the choice is pending
                return False
            run.n_accepted += 1
            run.pending = []
            i += 1
            if run.n_generated < max_tokens and self._fixes_next(run, constraint):
                i += self._forced_from_draft(run, constraint, draft, i, base + first + 1 + i)
            if run.n_generated >= max_tokens or run.fixed is not None:
                # What follows is left to the loop: the last accepted token stays pending, as
                # the logits after it are not the batch's last.
                self._cache.keep(base + first + i)
                run.pending = [draft[i - 1]]
                return False

    def _forced_from_draft(
        self, run: _Decoding, constraint: Constraint, draft: list[int], at: int, kept: int
    ) -> int:
        """How many tokens of `draft` from `at` are the text the grammar fixes here (run.fixed),
        taken into the answer as jump-forward would append them; 0 (run.fixed left for the
        loop) unless the draft spells that text in the tokens the answer then tokenizes to."""
        assert run.fixed is not None
        forced, done, _ = run.fixed
        if done or not forced:
            return 0
        spelled = b""
        k = 0
        while len(spelled) < len(forced) and at + k < len(draft):
            spelled += self._detokenize(draft[at + k])
            k += 1
        if spelled != forced:
            return 0
        answer = self._cache.tokens(len(run.prompt), kept) + draft[at : at + k]
        if self._jump.tokens(bytes(run.out) + forced) != answer:
            return 0
        with run.timed("grammar_ms"):
            self._jump.accept(constraint, forced)
        run.out += forced
        run.n_forced += k
        run.n_generated += k
        run.fixed = None
        return k

    def _fixes_next(self, run: _Decoding, constraint: Constraint) -> bool:
        """Whether jump-forward appends text (or ends the answer) from here; what it found is
        kept for it, so the lookahead runs once."""
        if not self.jump_forward:
            return False
        with run.timed("grammar_ms"):
            fixed = self._jump.forced_text(constraint, bytes(run.out))
        run.fixed = fixed if fixed.text or fixed.done else None
        return run.fixed is not None

    def _step_logits(self, run: _Decoding) -> np.ndarray:
        """Evaluate the pending tokens; the logits for the next one."""
        self._evaluate(run)
        run.prefilled = True
        run.n_steps += 1
        return self._cache.logits()

    def _evaluate(self, run: _Decoding) -> None:
        self._cache.evaluate(
            run.pending, run.timings_ms, "decode_ms" if run.prefilled else "prefill_ms"
        )

    def _choose(
        self,
        run: _Decoding,
        logits: np.ndarray,
        constraint: Constraint | None,
        abstain: Abstain | None,
    ) -> int:
        """The next token: greedy, unless abstaining picks out-of-scope or the grammar rejects
        the greedy token (then the likeliest it admits); each override counts as corrected."""
        token = int(np.argmax(logits))
        if constraint is None:
            return token
        with run.timed("grammar_ms"):
            if abstain is not None and abstain.applies(bytes(run.out)):
                share, chosen = choice_share(abstain, constraint, logits, self._detokenize)
                if run.abstain_share is None:  # the first call's decision: what calibrates
                    run.abstain_share = share
                if share >= abstain.min_p and chosen is not None and chosen != token:
                    token = chosen
                    run.n_corrected += 1
            if not constraint.accepts(token):
                token = constraint.best(logits)
                run.n_corrected += 1
        return token

    def _append(self, run: _Decoding, token: int, constraint: Constraint | None) -> None:
        if constraint is not None:
            constraint.accept(token)
        run.out += self._detokenize(token)
        run.n_generated += 1
        run.pending = [token]

    def _detokenize(self, token: int) -> bytes:
        return bytes(self._llm.detokenize([token]))

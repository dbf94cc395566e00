"""The parser: constrained generation gives a valid intent or a typed error, never a made-up one.

Runs the untuned SmolLM2 GGUF: its intents are often wrong, but the grammar makes every answer
the canonical rendering of a valid call, which is what these tests hold it to.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.catalogue.catalogue import REFUSED_WORDS
from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError, ModelOutputError
from intentforge.prompt import render_prompt
from intentforge.runtime import Cancelled, Context, DateResolver, Parser, apply_steps
from intentforge.runtime.engine import Abstain

NOW = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
REQUESTS = [
    "remind me to buy milk tomorrow at 5pm",
    "what's the weather in London tomorrow",
    "play some jazz",
    "email Bob about the meeting",
]


def test_every_answer_is_the_canonical_rendering_of_a_valid_call(smollm2_parser: Parser) -> None:
    resolver = DateResolver()
    answered = 0
    for text in REQUESTS:
        try:
            result = smollm2_parser.parse(text, timezone="Europe/Paris", now=NOW)
        except ModelOutputError:
            continue  # the untuned model may run out of tokens inside a string: a typed error
        answered += 1
        # Compact, slots in declared order (a priority is written as said, so the call holds
        # its number), and the call is the validated answer after the post-processing steps.
        catalogue = smollm2_parser.catalogue
        raw = json.loads(result.raw)
        assert result.raw == json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        said = list(raw["parameters"])
        order = [*catalogue[raw["intent"]].slots, REFUSED_WORDS]  # a refusal copies its words
        assert said == [s for s in order if s in said]
        context = Context(catalogue, resolver, text, "Europe/Paris", NOW)
        answer = apply_steps(catalogue.validate(raw), context)
        assert (result.call, result.resolved) == (answer.call, answer.resolved)
        # A required slot the model left out is named, with the question to ask; the parser
        # holds no conversation (runtime/conversation.py does).
        assert result.missing == catalogue.missing(result.call)
        assert result.question == catalogue.question(result.call)
        assert result.conversation_id is None
        assert result.to_dict()["missing"] == list(result.missing)
        assert result.call.intent in smollm2_parser.catalogue.names
        assert result.tokens > 0 and result.prompt_tokens > 0
        assert result.timings_ms["total"] >= result.timings_ms["prefill"] > 0
        assert set(result.resolved) <= {"due", "date"}
    assert answered >= 2


def test_the_parser_runs_only_the_post_processing_steps_the_settings_enable(
    smollm2_gguf: Path,
) -> None:
    text = "remind me to buy milk tomorrow at 5pm"
    answers = {}
    for steps in ([], ["resolve_dates"]):
        config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, postprocess=steps)
        parser = Parser(smollm2_gguf, load_catalogue(), config)
        try:
            answers[len(steps)] = parser.parse(text, now=NOW)
        finally:
            parser.close()
    bare, resolved = answers[0], answers[1]
    assert bare.call == parser.catalogue.validate(bare.raw)  # as the model said it
    assert bare.resolved == {}
    dates = parser.catalogue[resolved.call.intent].date_slots
    assert set(resolved.resolved) == {s for s in dates if s in resolved.call.parameters}


def test_text_slots_are_spans_of_the_request(smollm2_parser: Parser) -> None:
    texts = [*REQUESTS, "Email Anna: the keys are under the mat", "wetter in munich tomorrow"]
    values = 0
    for text in texts:
        try:
            result = smollm2_parser.parse(text)
        except ModelOutputError:
            continue
        for value in result.call.parameters.values():
            if isinstance(value, str):
                values += 1
                assert value.casefold() in text.casefold(), (text, result.call)
    assert values >= 3


def test_greedy_parsing_is_deterministic(smollm2_parser: Parser) -> None:
    first = smollm2_parser.parse(REQUESTS[2])
    second = smollm2_parser.parse(REQUESTS[2])
    assert (first.raw, first.tokens) == (second.raw, second.tokens)


def test_jump_forward_appends_fixed_text_without_sampling_it(
    smollm2_parser: Parser, smollm2_gguf: Path
) -> None:
    # Both ways give canonical valid calls; they may differ in content, since jump-forward feeds
    # fixed text tokenized as training tokenizes it, not as the model happens to spell it.
    config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, jump_forward=False)
    plain = Parser(smollm2_gguf, load_catalogue(), config)
    catalogue = plain.catalogue
    try:
        fast = smollm2_parser.generate("play some jazz", grammar=True, max_tokens=48)
        slow = plain.generate("play some jazz", grammar=True, max_tokens=48)
    finally:
        plain.close()
    assert slow.forced_tokens == 0
    assert fast.forced_tokens >= 4  # at least `{"intent":"` before the model says anything
    for gen in (fast, slow):
        catalogue.validate(gen.text)  # valid; a spoken slot may say no phrase ("PLAY")
        compact = json.dumps(json.loads(gen.text), separators=(",", ":"), ensure_ascii=False)
        assert compact == gen.text  # the grammar's one rendering: no spaces, declared key order


def test_jump_forward_stops_before_a_word_the_model_must_finish() -> None:
    from intentforge.runtime.jump_forward import without_last_run as _without_last_run

    assert _without_last_run(b'","pr') == b'","'  # "priority" or "project": the model picks
    assert _without_last_run(b'{"intent":"') == b'{"intent'
    assert _without_last_run(b'"priority":') == b'"priority'
    assert _without_last_run(b"intent") == b""


def test_jump_forward_context_is_the_answer_tokenized_as_training_does(
    smollm2_parser: Parser,
) -> None:
    # Forced text joins the model's tokens as one string would tokenize: the evaluated context is
    # a prefix of prompt + answer tokenized whole, never the answer in pieces.
    engine = smollm2_parser._engine
    for text in ("remind me to buy milk tomorrow, it's urgent", "email anna about the trip"):
        prompt = smollm2_parser.prompt_tokens(text)
        gen = smollm2_parser.generate(text, grammar=True, max_tokens=48)
        assert gen.forced_tokens > 0
        whole = prompt + engine.tokenize(gen.text, special=False)
        evaluated = list(engine._llm._input_ids)
        assert evaluated == whole[: len(evaluated)]
        assert len(evaluated) > len(prompt) + 2


def test_running_out_of_tokens_is_a_model_output_error(smollm2_gguf: Path) -> None:
    # No intent call renders in 8 tokens (the shortest, `none`, takes 11).
    parser = Parser(
        smollm2_gguf, load_catalogue(), RuntimeConfig(max_tokens=8, n_threads=1, max_calls=1)
    )
    try:
        with pytest.raises(ModelOutputError, match="within 8 tokens") as err:
            parser.parse("turn off the lights")
        assert err.value.status_code == 422
    finally:
        parser.close()


def test_unconstrained_generation_reports_tokens_and_stop(smollm2_parser: Parser) -> None:
    gen = smollm2_parser.generate("play some jazz", grammar=False, max_tokens=12)
    assert 0 < gen.n_tokens <= 12
    assert gen.latency_ms > 0
    assert gen.stopped_by_eos is (gen.n_tokens < 12)


def test_prompt_markers_are_single_special_tokens(smollm2_parser: Parser) -> None:
    tokens = smollm2_parser.prompt_tokens("hello")
    as_text = smollm2_parser._engine.tokenize(render_prompt("hello"), special=False)
    assert len(tokens) < len(as_text)  # <|im_start|> is one id, not a run of characters
    assert tokens.count(tokens[0]) == 2  # <|im_start|> opens both the user and assistant turns


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_400(smollm2_parser: Parser, text: str) -> None:
    with pytest.raises(IntentforgeError, match="empty") as err:
        smollm2_parser.parse(text)
    assert err.value.status_code == 400


def test_text_longer_than_the_context_is_a_413(smollm2_parser: Parser) -> None:
    with pytest.raises(IntentforgeError, match="too long") as err:
        smollm2_parser.parse("buy milk " * 400)
    assert err.value.status_code == 413


def test_unknown_time_zone_is_refused_before_generation(smollm2_parser: Parser) -> None:
    with pytest.raises(IntentforgeError, match="time zone"):
        smollm2_parser.parse("play some jazz", timezone="Nowhere/Land")


def test_a_cancelled_generation_stops_and_the_parser_still_works(smollm2_parser: Parser) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        smollm2_parser.parse("play some jazz", cancel=cancel)
    assert smollm2_parser.parse("play some jazz").call.intent in smollm2_parser.catalogue.names


def test_missing_model_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    with pytest.raises(IntentforgeError, match="intentforge build") as err:
        Parser(missing, load_catalogue(), RuntimeConfig())
    assert str(missing) in str(err.value)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>not a model</html>")
    with pytest.raises(IntentforgeError, match="not a GGUF"):
        Parser(bogus, load_catalogue(), RuntimeConfig())


def test_a_truncated_gguf_is_refused(tmp_path: Path, smollm2_gguf: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with smollm2_gguf.open("rb") as f:
        truncated.write_bytes(f.read(200_000))
    with pytest.raises(IntentforgeError, match="corrupt") as err:
        Parser(truncated, load_catalogue(), RuntimeConfig())
    assert str(truncated) in str(err.value)


def test_a_fine_tuned_model_answers_its_training_requests_exactly(tiny_gguf: Path) -> None:
    from tiny_model import FIT_ROWS

    config = RuntimeConfig(n_ctx=256, max_tokens=32, n_threads=1, max_calls=1)
    parser = Parser(tiny_gguf, load_catalogue(), config)
    try:
        for row in FIT_ROWS[:3]:
            result = parser.parse(row["text"])
            assert result.call.to_dict() == {
                "intent": row["intent"],
                "parameters": row["parameters"],
            }
            # Unconstrained, the fine-tune writes the same JSON and ends its turn by itself.
            free = parser.generate(row["text"], grammar=False)
            assert free.text == result.raw
            assert free.stopped_by_eos
    finally:
        parser.close()


@pytest.mark.parametrize(("passive", "expected"), [(True, "PASSIVE"), (False, None)])
def test_passive_openmp_waits_only_when_asked(
    smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch, passive: bool, expected: str | None
) -> None:
    import os

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    parser = Parser(
        smollm2_gguf, load_catalogue(), RuntimeConfig(n_threads=1, max_calls=1, omp_passive=passive)
    )
    parser.close()
    assert os.environ.get("OMP_WAIT_POLICY") == expected


def test_abstain_counts_the_tokens_that_can_only_spell_the_choice() -> None:
    names = (b'add_task"', b'get_weather"', b'send_email"')
    abstain = Abstain(at=b'{"intent":"', choice=b'none"', others=names, min_p=0.3)
    assert [abstain.counts(t) for t in (b"none", b"n", b"non", b'none"', b"add", b"", b"x")] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip
    with_notify = Abstain(abstain.at, abstain.choice, (*names, b'notify"'), 0.3)
    assert not with_notify.counts(b"n") and not with_notify.counts(b"no")
    assert with_notify.counts(b"non") and with_notify.counts(b"none")


def test_refuse_at_zero_answers_out_of_scope_to_everything_and_one_is_greedy(
    smollm2_gguf: Path,
) -> None:
    intents, greedy = {}, []
    for refuse_at in (0.0, 1.0):
        config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, refuse_at=refuse_at)
        parser = Parser(smollm2_gguf, load_catalogue(), config)
        try:
            intents[refuse_at] = [parser.parse(text).call.intent for text in REQUESTS[:2]]
            if refuse_at == 1.0:  # the same grammar without the out-of-scope decision
                raws = [parser.generate(text, grammar=True).text for text in REQUESTS[:2]]
                greedy = [json.loads(raw)["intent"] for raw in raws]
        finally:
            parser.close()
    assert intents[0.0] == ["none", "none"]
    assert intents[1.0] == greedy
    assert set(greedy) != {"none"}  # the untuned model acts on at least one of them


def test_refusal_share_is_the_threshold_at_which_out_of_scope_wins(smollm2_gguf: Path) -> None:
    catalogue = load_catalogue()
    text = "add milk to my shopping list"

    def answer(refuse_at: float) -> str:
        config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, refuse_at=refuse_at)
        parser = Parser(smollm2_gguf, catalogue, config)
        try:
            return parser.parse(text).call.intent
        finally:
            parser.close()

    measuring = Parser(
        smollm2_gguf, catalogue, RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1)
    )
    try:
        share = measuring.refusal_share(text)
    finally:
        measuring.close()
    assert 0 < share < 0.5, share  # the untuned model leans to an action here
    assert answer(share * 0.98) == "none"
    assert answer(min(1.0, share * 1.02)) != "none"


def test_refuse_at_comes_from_settings_then_the_manifest_then_the_default(tmp_path: Path) -> None:
    from intentforge.export.manifest import update_manifest, write_manifest
    from intentforge.runtime.parser import DEFAULT_REFUSE_AT, refuse_at_for

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF not really")
    assert refuse_at_for(model, RuntimeConfig()) == DEFAULT_REFUSE_AT  # no manifest
    write_manifest(model, quantization="q8_0", base="test")
    assert refuse_at_for(model, RuntimeConfig()) == DEFAULT_REFUSE_AT  # not calibrated
    update_manifest(model, refuse_at=0.15)
    assert refuse_at_for(model, RuntimeConfig()) == 0.15
    assert refuse_at_for(model, RuntimeConfig(refuse_at=0.4)) == 0.4


def test_several_requests_are_several_calls_in_the_order_said(multi_parser: Parser) -> None:
    result = multi_parser.parse("add milk to the shopping list and what's the weather in paris")
    assert [c.call.to_dict() for c in result.calls] == [
        {"intent": "add_task", "parameters": {"content": "milk", "project": "shopping"}},
        {"intent": "get_weather", "parameters": {"location": "paris"}},
    ]
    body = result.to_dict()
    # The first call stays at the top level: clients of one call keep working.
    assert (body["intent"], body["parameters"]) == ("add_task", result.calls[0].call.parameters)
    assert [c["intent"] for c in body["calls"]] == ["add_task", "get_weather"]
    assert body["missing"] == [] and body["question"] is None


def test_one_call_answers_carry_calls_too(smollm2_parser: Parser) -> None:
    body = smollm2_parser.parse("play some jazz").to_dict()
    assert [(c["intent"], c["parameters"]) for c in body["calls"]] == [
        (body["intent"], body["parameters"])
    ]


def test_each_call_is_post_processed_on_its_own_part_of_the_request(
    multi_parser: Parser,
) -> None:
    lights, bread = multi_parser.parse(
        "turn on the lights and add bread to my groceries list"
    ).calls
    assert lights.call.intent == "none"
    assert bread.call.parameters == {"content": "bread", "project": "groceries"}
    high, eggs = multi_parser.parse(
        "add bread to my list, high priority, and add eggs to my groceries list"
    ).calls
    # The priority said with the first task and the list named with the second stay theirs.
    assert high.call.parameters == {"content": "bread", "priority": 2}
    assert eggs.call.parameters == {"content": "eggs", "project": "groceries"}


def test_refusals_next_to_each_other_are_one_and_a_refusal_cut_short_is_still_one(
    multi_parser: Parser,
) -> None:
    joke = multi_parser.parse("tell me a joke and sing me a song")
    assert [c.call.to_dict() for c in joke.calls] == [{"intent": "none", "parameters": {}}]
    # A long request refused: max_tokens ends the copy of its words, not the answer.
    rome = multi_parser.parse(
        "add milk to my list and tell me the whole history of the roman empire"
    )
    assert [c.call.to_dict() for c in rome.calls] == [
        {"intent": "add_task", "parameters": {"content": "milk"}},
        {"intent": "none", "parameters": {}},
    ]
    # Half an action is never guessed.
    with pytest.raises(ModelOutputError, match="did not finish an intent"):
        multi_parser.parse("remind me to call the garage about the noise in the engine")


def test_the_answer_asks_for_the_first_incomplete_call(multi_parser: Parser) -> None:
    first = multi_parser.parse("send an email and remind me to call the garage")
    assert first.waiting is not None and first.waiting.call.intent == "send_email"
    assert first.to_dict()["question"] == "Who should I send it to?"
    second = multi_parser.parse("remind me to call the garage and send an email")
    assert second.missing == ()  # the first call is complete...
    body = second.to_dict()
    assert body["intent"] == "add_task"
    assert (body["missing"], body["question"]) == (["to"], "Who should I send it to?")
    assert body["calls"][1]["missing"] == ["to"]


def test_an_answer_of_calls_that_do_not_validate_is_a_model_output_error() -> None:
    catalogue = load_catalogue()
    calls = catalogue.validate_calls(
        '{"intent":"none","parameters":{}}\n{"intent":"get_weather","parameters":{}}'
    )
    assert [c.intent for c in calls] == ["none", "get_weather"]
    with pytest.raises(IntentforgeError, match="at most 3"):
        catalogue.validate_calls("\n".join(['{"intent":"none","parameters":{}}'] * 4))
    with pytest.raises(IntentforgeError, match="unknown intent"):
        catalogue.validate_calls('{"intent":"none","parameters":{}}\n{"intent":"fly"}')

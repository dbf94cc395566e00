"""The spoken judge: the same rows typed and spoken, side by side.

Each row is said by every voice of a round trip (text-to-speech, then the configured
speech-to-text), the model parses what was heard, and each voice's figures stand next to the typed
ones on the same rows: intent accuracy, slot exact match, false actions, plus the word error rate
of the transcripts. Nothing heard (voice activity detection found no speech) is an invalid answer:
wrong, and never an action, as in the voice loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.catalogue.kinds import SlotKind
from intentforge.evaluate.metrics import compute_metrics, costly_errors_per_set
from intentforge.evaluate.predictors import Outcome, Predictor
from intentforge.evaluate.runner import ModelResult, catalogue_slots, evaluate_predictor
from intentforge.evaluate.wer import word_error_rate
from intentforge.percentile import percentile
from intentforge.voice.roundtrip import Heard, RoundTrip

TYPED = "typed"
# Two robotic accents and one natural voice: en_US-joe-medium, a Piper voice from PyPI.
DEFAULT_VOICES = ("espeak-ng:en-us", "espeak-ng:en-gb-x-rp", "piper:joe")
NOTHING_HEARD = "no speech heard"
Slots = dict[str, dict[str, SlotKind]]


@dataclass(frozen=True)
class PathFigures:
    """One set through one path (typed, or a voice): the figures of the side-by-side table."""

    dataset: str
    path: str
    rows: int
    intent_accuracy: float | None
    slot_exact_match: float | None
    out_of_scope: int
    false_actions: int
    word_error_rate: float | None = None
    stt_p50_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RememberingPredictor:
    """Asks the model once per distinct text: voices often agree, and typed rows repeat."""

    def __init__(self, inner: Predictor) -> None:
        self._inner = inner
        self._answers: dict[str, Outcome] = {}
        self.name, self.kind, self.path = inner.name, inner.kind, inner.path

    def predict(self, text: str) -> Outcome:
        if not text.strip():
            return Outcome(None, "", 0.0, error=NOTHING_HEARD)
        if text not in self._answers:
            self._answers[text] = self._inner.predict(text)
        return self._answers[text]

    def close(self) -> None:
        self._inner.close()


def _figures(
    result: ModelResult, path: str, slots: Slots, heard: Sequence[Heard] = ()
) -> list[PathFigures]:
    """Per set figures of one path; `heard` (aligned with the predictions) adds WER and STT time."""
    out = []
    for errors in costly_errors_per_set(result.predictions):
        indices = [i for i, p in enumerate(result.predictions) if p.dataset == errors.dataset]
        predictions = [result.predictions[i] for i in indices]
        metrics = compute_metrics(predictions, slots)
        said = [heard[i] for i in indices] if heard else []
        out.append(
            PathFigures(
                dataset=errors.dataset,
                path=path,
                rows=len(predictions),
                intent_accuracy=metrics.intent_accuracy,
                slot_exact_match=metrics.slot_exact_match,
                out_of_scope=errors.out_of_scope,
                false_actions=errors.false_actions,
                word_error_rate=word_error_rate((h.said, h.transcript) for h in said),
                stt_p50_ms=percentile([h.stt_ms for h in said], 50) if said else None,
            )
        )
    return out


def judge_spoken(
    predictor: Predictor,
    rows: Sequence[dict[str, Any]],
    catalogue: Catalogue,
    round_trip: RoundTrip,
    *,
    progress: Any = None,
) -> tuple[list[ModelResult], list[PathFigures]]:
    """The model on `rows` typed, then as heard through each voice of `round_trip`: one result
    per path (named "typed" and "spoken <voice>") and the figures of each path on each set."""
    remembering = RememberingPredictor(predictor)
    slots = catalogue_slots(catalogue)

    def task(description: str) -> Callable[[], None]:
        if progress is None:
            return lambda: None
        task_id = progress.add_task(description, total=len(rows))
        return lambda: progress.advance(task_id)

    typed = evaluate_predictor(remembering, rows, catalogue, task("parse typed"))
    typed = replace(typed, name=TYPED, info={"path": TYPED})
    results, figures = [typed], _figures(typed, TYPED, slots)
    for voice, speaker in round_trip.voices.items():
        advance = task(f"hear {voice}")
        heard = []
        for row in rows:
            heard.append(round_trip.hear(str(row["text"]), speaker))
            advance()
        spoken_rows = [{**row, "text": h.transcript} for row, h in zip(rows, heard, strict=True)]
        result = evaluate_predictor(remembering, spoken_rows, catalogue, task(f"parse {voice}"))
        result = replace(
            result,
            name=f"spoken {voice}",
            info={"path": "spoken", "voice": speaker.key, "stt": round_trip.transcriber.key},
        )
        results.append(result)
        figures += _figures(result, voice, slots, heard)
    return results, figures

"""ASR-robust training data: speak each row with the TTS, transcribe it with the STT, train on that.

Speech-to-text makes mistakes written text never shows ("What's the weather in London tomorrow"
heard as "worse than ever in London tomorrow"); a model that saw them in training survives them.
A row is kept only when every spoken slot value can still be found in the transcript (labels must
be spans the model can copy); the label then takes the transcript's own spelling of that span.
Rows that fail go to a sidecar file with the reason, so both outcomes are inspectable and a killed
run resumes where it stopped (ids in either file are skipped).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.data.jsonl import numbered_rows
from intentforge.data.speech import digits_to_words, words_to_digits
from intentforge.errors import IntentforgeError
from intentforge.voice.roundtrip import RoundTrip

SPEECH_SUFFIX = "-speech"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class SpeechifyStats:
    """Counts of one run (rows skipped because an earlier run already did them included)."""

    kept: int = 0
    dropped: int = 0
    skipped: int = 0
    changed: int = 0
    missing_by_slot: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.kept + self.dropped


def dropped_path(out_path: Path) -> Path:
    """Where rows whose slots did not survive recognition are recorded."""
    return out_path.with_name(out_path.name.removesuffix(".jsonl") + ".dropped.jsonl")


def find_span(value: str, transcript: str) -> str | None:
    """The transcript's own text for `value`: same words in order, any case and punctuation
    between them; None when the words are not there."""
    words = _WORD.findall(value)
    if not words:
        return None
    pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)"
    match = re.search(pattern, transcript, flags=re.IGNORECASE)
    return match.group(0) if match else None


def relabel(
    parameters: Mapping[str, Any], transcript: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """Parameters with each text slot re-spelled as found in `transcript`, or (None, missing)."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for slot, value in parameters.items():
        if isinstance(value, str):
            # Recognisers write numbers their own way ("in two hours" -> "in 2 hours").
            variants = dict.fromkeys([value, words_to_digits(value), digits_to_words(value)])
            span = next(filter(None, (find_span(v, transcript) for v in variants)), None)
            if span is None:
                missing.append(slot)
                continue
            out[slot] = span
        else:
            # Non-text slots (priority 1..4) are not spans: the words for them vary by design.
            out[slot] = value
    return (None, missing) if missing else (out, [])


def _trim_partial_line(path: Path) -> None:
    """Cut a last line left without its newline by a kill, so appends start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _done_ids(*paths: Path) -> set[str]:
    """Ids of the rows an earlier run already kept or dropped (files not yet written are empty)."""
    done: set[str] = set()
    for path in paths:
        if not path.exists():
            continue
        for number, row in numbered_rows(path):
            if "speech_of" not in row:
                raise IntentforgeError(
                    f"{path}:{number}: not a speechify row (no speech_of); use a new output file"
                )
            done.add(str(row["speech_of"]))
    return done


def _append(handle: Any, row: Mapping[str, Any]) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    handle.flush()


def speechify(
    rows: Iterable[Mapping[str, Any]],
    out_path: Path,
    catalogue: Catalogue,
    round_trip: RoundTrip,
    *,
    on_row: Callable[[SpeechifyStats], None] | None = None,
) -> SpeechifyStats:
    """Append the speech version of every row not yet done to `out_path` (resumable).

    Each row is spoken by one of the round trip's voices, chosen by a hash of its id so reruns
    pick the same voice; kept rows get source "speech", id "<id>-speech" and "speech_of": the
    original id.
    """
    speakers = list(round_trip.voices.values())
    dropped_file = dropped_path(out_path)
    for path in (out_path, dropped_file):
        _trim_partial_line(path)
    done = _done_ids(out_path, dropped_file)
    stats = SpeechifyStats()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        out_path.open("a", encoding="utf-8") as kept_out,
        dropped_file.open("a", encoding="utf-8") as dropped_out,
    ):
        for row in rows:
            row_id = str(row["id"])
            if row_id in done:
                stats.skipped += 1
                if on_row:
                    on_row(stats)
                continue
            speaker = speakers[zlib.crc32(row_id.encode("utf-8")) % len(speakers)]
            transcript = round_trip.hear(str(row["text"]), speaker).transcript
            parameters, missing = relabel(row["parameters"], transcript)
            base = {"speech_of": row_id, "original_text": row["text"]}
            if parameters is None or not transcript:
                missing = missing or ["(no speech heard)"]
                for slot in missing:
                    stats.missing_by_slot[slot] = stats.missing_by_slot.get(slot, 0) + 1
                _append(dropped_out, {**base, "transcript": transcript, "missing": missing})
                stats.dropped += 1
            else:
                call = catalogue.validate({"intent": row["intent"], "parameters": parameters})
                kept = {
                    **row,
                    "id": row_id + SPEECH_SUFFIX,
                    "text": transcript,
                    "parameters": call.parameters,
                    "source": "speech",
                    **base,
                }
                _append(kept_out, kept)
                stats.kept += 1
                stats.changed += transcript != row["text"]
            done.add(row_id)
            if on_row:
                on_row(stats)
    return stats

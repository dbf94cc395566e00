"""Quality metrics of an intent model over a labelled dataset: pure functions of the predictions.

Definitions (the README repeats them):
- A prediction is *valid* when the model's output parsed as JSON and validated against the
  catalogue; an invalid one has intent None and counts as wrong everywhere.
- Slot values compare after the runtime's normalisation (case-folded, trimmed, whitespace collapsed,
  trailing punctuation stripped); numbers (priority) compare as numbers. Date slots (their kind
  in the catalogue) also ignore leading connector words, the ones the runtime cuts from a repeated
  date (catalogue/kinds.py: "on friday" == "due by friday" == "friday"): all resolve to one date.
- A slot is identified by (intent, slot name). Slot-level F1 per slot: a gold slot matched by the
  same slot with an equal value in the prediction is a true positive; an unmatched predicted slot a
  false positive, an unmatched gold slot a false negative (a wrong intent misses all its slots).
- Per-slot exact match: over rows whose gold intent owns the slot, the share where the prediction
  has that intent and the slot's value equals the gold one, absence included (unsaid stays unsaid).
- Row slot exact match: over in-scope rows (gold intent not `none`), the share whose predicted
  intent and full set of slots equal the gold ones. Exact match: the same over all rows.
- A row that says several requests (gold `calls`) is scored only by the multi-request exact
  call lists: the share of such rows whose predicted calls are the gold ones, intents and slots,
  in order, none more or less. Every other figure is over one-request rows, where an answer of
  more than one call is not an exact match, and one that acts on an out-of-scope request with any
  of its calls is a false action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE
from intentforge.catalogue.kinds import SlotKind
from intentforge.evaluate.values import (
    SlotKinds,
    parameters_equal,
    slot_kinds,
    values_equal,
)
from intentforge.percentile import percentile

INVALID = "<invalid>"


@dataclass(frozen=True)
class Prediction:
    """One dataset row, the model's answer to it and how that answer came about."""

    id: str
    text: str
    gold_intent: str
    gold_parameters: dict[str, Any]
    intent: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    latency_ms: float = 0.0
    stopped: bool | None = None
    error: str | None = None
    dataset: str = ""  # the file or folder the row came from, as given to eval
    # Every call of the gold label and of the answer, in order (empty: the one call above).
    gold_calls: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.intent is not None

    @property
    def multi(self) -> bool:
        """Whether the row says several requests."""
        return len(self.gold_calls) > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one label or slot (None where the denominator is zero)."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    tp: int
    fp: int
    fn: int

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Scores:
        return cls(
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            f1=_ratio(2 * tp, 2 * tp + fp + fn),
            support=tp + fn,
            tp=tp,
            fp=fp,
            fn=fn,
        )


def predicted_label(prediction: Prediction) -> str:
    return prediction.intent if prediction.intent is not None else INVALID


def intent_accuracy(predictions: Sequence[Prediction]) -> float | None:
    """Share of rows whose predicted intent is the gold one (invalid output is wrong)."""
    return _ratio(sum(p.intent == p.gold_intent for p in predictions), len(predictions))


def per_intent_scores(
    predictions: Sequence[Prediction], labels: Sequence[str]
) -> dict[str, Scores]:
    """Precision/recall/F1 of each intent; recall is the accuracy on that intent's rows."""
    out = {}
    for label in labels:
        tp = sum(p.gold_intent == label and p.intent == label for p in predictions)
        fp = sum(p.gold_intent != label and p.intent == label for p in predictions)
        fn = sum(p.gold_intent == label and p.intent != label for p in predictions)
        out[label] = Scores.from_counts(tp, fp, fn)
    return out


def confusion_matrix(
    predictions: Sequence[Prediction], labels: Sequence[str]
) -> tuple[list[str], list[str], list[list[int]]]:
    """Counts of (gold row, predicted column); the last column holds invalid outputs."""
    rows = list(labels) + sorted({p.gold_intent for p in predictions} - set(labels))
    columns = [*list(labels), INVALID]
    columns[-1:-1] = sorted({p.intent for p in predictions if p.intent} - set(labels))
    counts = Counter((p.gold_intent, predicted_label(p)) for p in predictions)
    return rows, columns, [[counts[(r, c)] for c in columns] for r in rows]


def slot_scores(
    predictions: Sequence[Prediction], kinds: SlotKinds | None = None
) -> dict[str, Scores]:
    """Slot-level precision/recall/F1 per "intent.slot" (see the module docstring)."""
    kinds = kinds or {}
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for p in predictions:
        gold = {f"{p.gold_intent}.{s}": (s, v) for s, v in p.gold_parameters.items()}
        predicted = {f"{p.intent}.{s}": (s, v) for s, v in p.parameters.items()} if p.valid else {}
        for key in gold.keys() | predicted.keys():
            if (
                key in gold
                and key in predicted
                and values_equal(
                    gold[key][1],
                    predicted[key][1],
                    gold[key][0],
                    kinds.get(p.gold_intent, {}).get(gold[key][0]),
                )
            ):
                tp[key] += 1
                continue
            if key in predicted:
                fp[key] += 1
            if key in gold:
                fn[key] += 1
    keys = sorted(tp.keys() | fp.keys() | fn.keys())
    return {k: Scores.from_counts(tp[k], fp[k], fn[k]) for k in keys}


def slot_exact_match(
    predictions: Sequence[Prediction], slots: Mapping[str, Sequence[str] | Mapping[str, SlotKind]]
) -> dict[str, float | None]:
    """Per "intent.slot": share of that intent's gold rows where the slot came out exactly right.

    `slots` maps each intent to its slots and their kinds (or its slot names) from the catalogue.
    """
    out: dict[str, float | None] = {}
    for intent, names in slot_kinds(slots).items():
        rows = [p for p in predictions if p.gold_intent == intent]
        for slot, kind in names.items():
            right = 0
            for p in rows:
                if p.intent != intent:
                    continue
                gold, pred = p.gold_parameters.get(slot), p.parameters.get(slot)
                if (gold is None and pred is None) or (
                    gold is not None and pred is not None and values_equal(gold, pred, slot, kind)
                ):
                    right += 1
            out[f"{intent}.{slot}"] = _ratio(right, len(rows))
    return out


def is_false_action(prediction: Prediction) -> bool:
    """An out-of-scope request answered with an action (by any of its calls): the costliest
    error."""
    return (
        prediction.gold_intent == OUT_OF_SCOPE
        and prediction.valid
        and (
            prediction.intent != OUT_OF_SCOPE
            or any(c["intent"] != OUT_OF_SCOPE for c in prediction.calls)
        )
    )


def is_false_refusal(prediction: Prediction) -> bool:
    """An in-scope request answered `none`."""
    return prediction.gold_intent != OUT_OF_SCOPE and prediction.intent == OUT_OF_SCOPE


@dataclass(frozen=True)
class CostlyErrors:
    """What a model's errors cost on one set of rows: out-of-scope requests acted on (counted per
    intent they became) and in-scope requests refused."""

    dataset: str
    out_of_scope: int
    false_actions: int
    false_actions_by_intent: dict[str, int]
    in_scope: int
    false_refusals: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def costly_errors(predictions: Sequence[Prediction], dataset: str) -> CostlyErrors:
    """False actions and false refusals among `predictions` (one set's rows)."""
    acted = Counter(str(p.intent) for p in predictions if is_false_action(p))
    return CostlyErrors(
        dataset=dataset,
        out_of_scope=sum(p.gold_intent == OUT_OF_SCOPE for p in predictions),
        false_actions=sum(acted.values()),
        false_actions_by_intent=dict(acted.most_common()),
        in_scope=sum(p.gold_intent != OUT_OF_SCOPE for p in predictions),
        false_refusals=sum(is_false_refusal(p) for p in predictions),
    )


def costly_errors_per_set(
    predictions: Sequence[Prediction], default: str = ""
) -> list[CostlyErrors]:
    """`costly_errors` of each set, in the order the sets first appear; rows without a set
    belong to `default`."""
    sets: dict[str, list[Prediction]] = {}
    for p in predictions:
        sets.setdefault(p.dataset or default, []).append(p)
    return [costly_errors(rows, name) for name, rows in sets.items()]


def row_exact_match(
    predictions: Sequence[Prediction], *, in_scope_only: bool, kinds: SlotKinds | None = None
) -> float | None:
    """Share of rows whose intent and every slot are right (in-scope rows only, or all rows)."""
    rows = [p for p in predictions if not in_scope_only or p.gold_intent != OUT_OF_SCOPE]
    kinds = kinds or {}
    right = sum(
        p.intent == p.gold_intent
        and len(p.calls) <= 1
        and parameters_equal(p.gold_parameters, p.parameters, kinds.get(p.gold_intent))
        for p in rows
    )
    return _ratio(right, len(rows))


def calls_equal(prediction: Prediction, kinds: SlotKinds | None = None) -> bool:
    """Whether the answer's calls are the gold ones: intents and slots, in order."""
    kinds = kinds or {}
    gold, said = prediction.gold_calls, prediction.calls
    return len(gold) == len(said) and all(
        g["intent"] == p["intent"]
        and parameters_equal(g["parameters"], p["parameters"], kinds.get(g["intent"]))
        for g, p in zip(gold, said, strict=True)
    )


def multi_exact_match(
    predictions: Sequence[Prediction], kinds: SlotKinds | None = None
) -> float | None:
    """Share of the rows that say several requests whose calls all came out exactly right."""
    rows = [p for p in predictions if p.multi]
    return _ratio(sum(calls_equal(p, kinds) for p in rows), len(rows))


def multi_exact_per_set(
    predictions: Sequence[Prediction], kinds: SlotKinds | None = None, default: str = ""
) -> list[dict[str, Any]]:
    """Multi-request exact call lists of each set that has such rows: {dataset, rows, exact}."""
    sets: dict[str, list[Prediction]] = {}
    for p in predictions:
        if p.multi:
            sets.setdefault(p.dataset or default, []).append(p)
    return [
        {"dataset": name, "rows": len(rows), "exact": sum(calls_equal(p, kinds) for p in rows)}
        for name, rows in sets.items()
    ]


@dataclass(frozen=True)
class Metrics:
    """Every figure of one model on one dataset (rates in 0..1, None where undefined)."""

    rows: int  # all rows; the figures below are over one-request rows, the multi_ ones aside
    intent_accuracy: float | None
    macro_f1: float | None
    slot_exact_match: float | None
    exact_match: float | None
    slot_f1: float | None
    json_validity: float | None
    stop_rate: float | None
    stop_measured: int
    out_of_scope_refusal: float | None
    false_action_rate: float | None
    false_refusal_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_mean_ms: float | None
    per_intent: dict[str, Scores]
    per_slot: dict[str, Scores]
    per_slot_exact_match: dict[str, float | None]
    confusion: dict[str, Any]
    multi_rows: int = 0
    multi_exact_match: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> dict[str, float | None]:
        """The figures a summary table shows (the quality targets among them)."""
        return {
            "intent_accuracy": self.intent_accuracy,
            "slot_exact_match": self.slot_exact_match,
            "slot_f1": self.slot_f1,
            "json_validity": self.json_validity,
            "stop_rate": self.stop_rate,
            "out_of_scope_refusal": self.out_of_scope_refusal,
            "false_action_rate": self.false_action_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
        }


def compute_metrics(
    predictions: Sequence[Prediction], slots: Mapping[str, Sequence[str] | Mapping[str, SlotKind]]
) -> Metrics:
    """All metrics. `slots` maps each catalogue intent, in order, to its slots and their kinds
    (`Intent.slot_kinds`; slot names alone: each the kind its name implies)."""
    labels = list(slots)
    kinds = slot_kinds(slots)
    everything = predictions
    predictions = [p for p in everything if not p.multi]
    per_intent = per_intent_scores(predictions, labels)
    defined_f1 = [s.f1 for s in per_intent.values() if s.f1 is not None and s.support]
    per_slot = slot_scores(predictions, kinds)
    tp = sum(s.tp for s in per_slot.values())
    fp = sum(s.fp for s in per_slot.values())
    fn = sum(s.fn for s in per_slot.values())
    oos = [p for p in predictions if p.gold_intent == OUT_OF_SCOPE]
    in_scope = [p for p in predictions if p.gold_intent != OUT_OF_SCOPE]
    measured = [p.stopped for p in everything if p.stopped is not None]
    latencies = [p.latency_ms for p in everything]
    rows, columns, matrix = confusion_matrix(predictions, labels)
    return Metrics(
        rows=len(everything),
        intent_accuracy=intent_accuracy(predictions),
        macro_f1=sum(defined_f1) / len(defined_f1) if defined_f1 else None,
        slot_exact_match=row_exact_match(predictions, in_scope_only=True, kinds=kinds),
        exact_match=row_exact_match(predictions, in_scope_only=False, kinds=kinds),
        slot_f1=_ratio(2 * tp, 2 * tp + fp + fn),
        json_validity=_ratio(sum(p.valid for p in everything), len(everything)),
        stop_rate=_ratio(sum(measured), len(measured)),
        stop_measured=len(measured),
        out_of_scope_refusal=_ratio(sum(p.intent == OUT_OF_SCOPE for p in oos), len(oos)),
        false_action_rate=_ratio(sum(map(is_false_action, oos)), len(oos)),
        false_refusal_rate=_ratio(sum(map(is_false_refusal, in_scope)), len(in_scope)),
        latency_p50_ms=percentile(latencies, 50) if latencies else None,
        latency_p95_ms=percentile(latencies, 95) if latencies else None,
        latency_mean_ms=sum(latencies) / len(latencies) if latencies else None,
        per_intent=per_intent,
        per_slot=per_slot,
        per_slot_exact_match=slot_exact_match(predictions, slots),
        confusion={"rows": rows, "columns": columns, "counts": matrix},
        multi_rows=sum(p.multi for p in everything),
        multi_exact_match=multi_exact_match(everything, kinds),
    )

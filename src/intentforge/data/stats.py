"""Describe a dataset: rows per intent, slot and slot combination, sources, styles, text lengths."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table

from intentforge.percentile import percentile

_LENGTH_BUCKETS = ((1, 3), (4, 6), (7, 10), (11, 15), (16, 25), (26, 10_000))


def dataset_stats(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts as plain data (JSON-ready): per intent, slot, slot combination, source, style, and the
    distribution of text lengths in words."""
    intents = Counter(row["intent"] for row in rows)
    slots: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    for row in rows:
        params = row.get("parameters") or {}
        for slot in params:
            slots[f"{row['intent']}.{slot}"] += 1
        combos[f"{row['intent']}({', '.join(params)})"] += 1
    words = [len(str(row["text"]).split()) for row in rows]
    lengths: dict[str, Any] = {}
    if words:
        lengths = {
            "min": min(words),
            "p50": round(percentile(words, 50), 1),
            "mean": round(statistics.fmean(words), 1),
            "p95": round(percentile(words, 95), 1),
            "max": max(words),
            "histogram": {
                (f"{low}-{high}" if high < 10_000 else f"{low}+"): sum(
                    low <= w <= high for w in words
                )
                for low, high in _LENGTH_BUCKETS
            },
        }
    return {
        "rows": len(rows),
        "intents": dict(sorted(intents.items())),
        "slots": dict(sorted(slots.items())),
        "slot_combinations": dict(sorted(combos.items())),
        "sources": dict(sorted(Counter(str(r.get("source")) for r in rows).items())),
        "styles": dict(sorted(Counter(str(r.get("style", "-")) for r in rows).items())),
        "length_words": lengths,
    }


def _counts_table(title: str, counts: dict[str, int], total: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split(" ")[0].capitalize())
    table.add_column("Rows", justify="right")
    table.add_column("Share", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count), f"{100 * count / total:.1f} %" if total else "-")
    return table


def stats_table(stats: dict[str, Any]) -> Group:
    """The stats as rich tables, for the terminal."""
    total = stats["rows"]
    parts: list[Any] = [
        _counts_table(f"intents ({total} rows)", stats["intents"], total),
        _counts_table("slots filled", stats["slots"], total),
        _counts_table("combinations of slots", stats["slot_combinations"], total),
        _counts_table("sources", stats["sources"], total),
        _counts_table("styles", stats["styles"], total),
    ]
    lengths = stats["length_words"]
    if lengths:
        table = Table(title="length in words", title_justify="left")
        for key in ("min", "p50", "mean", "p95", "max"):
            table.add_column(key, justify="right")
        table.add_row(*(str(lengths[k]) for k in ("min", "p50", "mean", "p95", "max")))
        parts.append(table)
        parts.append(_counts_table("words per request", lengths["histogram"], total))
    return Group(*parts)

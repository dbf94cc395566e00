"""Deduplicate a dataset and split it into train and test, stratified by intent.

Duplicates are judged on normalised text (case, punctuation and spacing ignored), near-duplicates
by rapidfuzz's similarity ratio among rows of the same intent. Both are removed before the split,
so no text, nor a near copy of it, is in both train and test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from intentforge.errors import IntentforgeError

DEFAULT_NEAR_THRESHOLD = 95.0
_CHUNK_ROWS = 1024  # similarity rows computed at once: bounds memory to CHUNK x n bytes

Row = dict[str, Any]


def dedup_key(text: str) -> str:
    """The text as compared for duplicates: lower case, punctuation dropped, spaces collapsed."""
    text = re.sub(r"[^\w\s@'.]|(?<!\w)\.|\.(?!\w)", " ", text.lower())  # keeps "a.b@c.com"
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class SplitResult:
    train: list[Row]
    test: list[Row]
    exact_duplicates: int
    near_duplicates: int
    unused: int  # unique rows beyond train_rows + test_rows
    excluded: int = 0  # rows whose text is in an excluded (evaluation) set


def _near_duplicates(keys: Sequence[str], threshold: float) -> list[bool]:
    """For each key, whether it is at least `threshold` similar to an earlier key that was kept."""
    n = len(keys)
    kept = np.zeros(n, dtype=bool)
    dropped = [False] * n
    for start in range(0, n, _CHUNK_ROWS):
        end = min(n, start + _CHUNK_ROWS)
        scores = process.cdist(
            keys[start:end], keys[:end], scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.uint8
        )
        for offset in range(end - start):
            index = start + offset
            similar = np.nonzero(scores[offset, :index])[0]
            if kept[similar].any():
                dropped[index] = True
            else:
                kept[index] = True
    return dropped


def deduplicate(
    rows: Sequence[Row], near_threshold: float = DEFAULT_NEAR_THRESHOLD
) -> tuple[list[Row], int, int]:
    """Rows without exact or near duplicates (the first of each group is kept), and how many of
    each kind were dropped. `near_threshold` is a 0..100 similarity; 100 turns near-dedup off."""
    seen: set[str] = set()
    unique: list[Row] = []
    for row in rows:
        key = dedup_key(row["text"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    exact = len(rows) - len(unique)
    if near_threshold >= 100:
        return unique, exact, 0
    by_intent: dict[str, list[int]] = {}
    for index, row in enumerate(unique):
        by_intent.setdefault(row["intent"], []).append(index)
    drop: set[int] = set()
    for indices in by_intent.values():
        flags = _near_duplicates([dedup_key(unique[i]["text"]) for i in indices], near_threshold)
        drop.update(i for i, flag in zip(indices, flags, strict=True) if flag)
    kept = [row for index, row in enumerate(unique) if index not in drop]
    return kept, exact, len(drop)


def _allocate(total: int, counts: dict[str, int], caps: dict[str, int]) -> dict[str, int]:
    """`total` spread over groups in proportion to `counts` (largest remainder), within `caps`."""
    size = sum(counts.values())
    shares = {k: total * c / size for k, c in counts.items()} if size else {}
    alloc = {k: min(int(s), caps[k]) for k, s in shares.items()}
    by_remainder = sorted(shares, key=lambda k: (-(shares[k] - int(shares[k])), k))
    while sum(alloc.values()) < total:
        open_groups = [k for k in by_remainder if alloc[k] < caps[k]]
        if not open_groups:
            break
        for k in open_groups:
            if sum(alloc.values()) >= total:
                break
            alloc[k] += 1
    return alloc


def drop_texts(rows: Sequence[Row], texts: Iterable[str]) -> list[Row]:
    """`rows` without those whose text, normalised as for deduplication, is one of `texts`."""
    keys = {dedup_key(text) for text in texts}
    return [row for row in rows if dedup_key(row["text"]) not in keys]


def split(
    rows: Sequence[Row],
    train_rows: int,
    test_rows: int,
    seed: int,
    near_threshold: float = DEFAULT_NEAR_THRESHOLD,
    exclude: Iterable[str] = (),
) -> SplitResult:
    """Deduplicate, then draw test and train sets stratified by intent.

    Rows whose text (normalised) is in `exclude`, e.g. a hand-written dev set, are dropped first so
    that an evaluation never scores text the model was trained on. With fewer unique rows than
    train_rows + test_rows, both splits shrink in proportion.
    """
    if train_rows < 1 or test_rows < 1:
        raise IntentforgeError("train and test sizes must be at least 1 row each")
    kept = drop_texts(rows, exclude)
    excluded = len(rows) - len(kept)
    unique, exact, near = deduplicate(kept, near_threshold)
    if len(unique) < 2:
        raise IntentforgeError(
            f"only {len(unique)} unique row(s) after removing duplicates; generate more data"
        )
    wanted = train_rows + test_rows
    if len(unique) >= wanted:
        n_test, n_train = test_rows, train_rows
    else:
        n_test = max(1, len(unique) * test_rows // wanted)
        n_train = len(unique) - n_test

    groups: dict[str, list[Row]] = {}
    for row in unique:
        groups.setdefault(row["intent"], []).append(row)
    rng = random.Random(seed)
    for name in sorted(groups):
        rng.shuffle(groups[name])
    counts = {name: len(group) for name, group in groups.items()}
    test_alloc = _allocate(n_test, counts, counts)
    train_alloc = _allocate(n_train, counts, {k: counts[k] - test_alloc[k] for k in counts})
    test: list[Row] = []
    train: list[Row] = []
    for name in sorted(groups):
        group = groups[name]
        test.extend(group[: test_alloc[name]])
        train.extend(group[test_alloc[name] : test_alloc[name] + train_alloc[name]])
    rng.shuffle(test)
    rng.shuffle(train)
    return SplitResult(train, test, exact, near, len(unique) - len(train) - len(test), excluded)

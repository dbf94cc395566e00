"""The default build: data -> split -> train -> merge -> export -> eval, as skippable stages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from intentforge.build.stages import Stage, StageOutcome, run_stages
from intentforge.catalogue import Catalogue
from intentforge.config import Settings, load_secrets
from intentforge.errors import IntentforgeError
from intentforge.train.models import weights_dir

_DATA_PACKAGE = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class BuildPaths:
    generated: Path
    train: Path
    test: Path
    run_dir: Path
    adapter: Path  # what training writes: the LoRA adapter, or the whole model (lora: false)
    merged: Path
    models: dict[str, Path]  # quantization -> GGUF
    report_dir: Path

    @property
    def primary_model(self) -> Path:
        """The model `intentforge run` serves: the first quantization asked for."""
        return next(iter(self.models.values()))


def model_name(settings: Settings) -> str:
    if settings.build.name:
        return settings.build.name
    base = re.sub(r"[^a-z0-9.]+", "-", Path(settings.train.base).name.lower()).strip("-")
    return f"intentforge-{base}"


def build_paths(settings: Settings) -> BuildPaths:
    name = model_name(settings)
    data_dir = settings.data.out_dir
    run_dir = settings.train.runs_dir / name
    return BuildPaths(
        # The LLM ledger refuses rows of another generator, so each generator has its own file.
        generated=data_dir
        / ("llm.jsonl" if settings.data.generator == "llm" else "generated.jsonl"),
        train=data_dir / "train.jsonl",
        test=data_dir / "test.jsonl",
        run_dir=run_dir,
        adapter=weights_dir(settings.train, run_dir),
        merged=run_dir / "merged",
        models={
            q: settings.export.out_dir / f"{name}.{q}.gguf" for q in settings.export.quantizations
        },
        report_dir=settings.build.reports_dir / name,
    )


def _eval_inputs(settings: Settings, paths: BuildPaths) -> list[Path]:
    found = [p for p in settings.build.eval_data if p.exists()]
    return found or [paths.test]


def plan(settings: Settings, catalogue: Catalogue, progress: Progress | None = None) -> list[Stage]:
    """The stages of the build for these settings (nothing runs until `run_stages`)."""
    paths = build_paths(settings)
    data, train_cfg, export_cfg = settings.data, settings.train, settings.export
    catalogue_id = json.dumps(
        [
            [i.name, i.parameters.model_json_schema(), [*i.examples], i.slot_values, i.slot_rates]
            for i in catalogue.intents
        ],
        sort_keys=True,
    )

    dev_sets = [p for p in settings.build.eval_data if p.exists()]
    for extra in data.extra_train:
        if not extra.is_file():
            raise IntentforgeError(
                f"data.extra_train file {extra} not found: create it (e.g. `intentforge data "
                "speechify build/data/train.jsonl build/data/train_speech.jsonl`) or remove it"
            )

    def generate() -> None:
        from intentforge.data.jsonl import write_jsonl

        if data.generator == "llm":
            from intentforge.data.llm import generate_with_llm

            key = load_secrets(settings).llm_api_key
            generate_with_llm(
                catalogue,
                settings.llm,
                key.get_secret_value() if key else None,
                rows=data.rows,
                ledger=paths.generated,
                seed=data.seed,
                none_fraction=data.none_fraction,
            )
            return
        from intentforge.data.templates import generate as generate_templates

        rows = generate_templates(catalogue, data.rows, data.seed, data.none_fraction)
        write_jsonl(paths.generated, rows)

    def split() -> None:
        from intentforge.data.jsonl import read_dataset, write_jsonl
        from intentforge.data.split import drop_texts
        from intentforge.data.split import split as split_rows
        from intentforge.evaluate.runner import load_rows

        # Never train on the evaluation set: its texts are dropped before the split.
        held_out = [str(r["text"]) for r in load_rows(dev_sets)] if dev_sets else []
        result = split_rows(
            read_dataset(paths.generated, catalogue),
            data.train_rows,
            data.test_rows,
            data.seed,
            exclude=held_out,
        )
        extra = drop_texts(
            [row for path in data.extra_train for row in read_dataset(path, catalogue)], held_out
        )
        write_jsonl(paths.train, result.train + extra)
        write_jsonl(paths.test, result.test)

    def train() -> None:
        from intentforge.train.train import train as train_model

        def attempt(restart: bool) -> None:
            train_model(
                train_cfg,
                catalogue=catalogue,
                train_path=paths.train,
                # No loss on the test split after the epoch (40 s of the 10-minute budget): the
                # eval stage measures the exported model itself, on the dev set.
                test_path=None,
                name=paths.run_dir.name,
                restart=restart,
                progress=progress,
            )

        try:
            attempt(restart=False)  # a killed run with the same config and data resumes
        except IntentforgeError:
            if not (paths.run_dir / "config.json").is_file():
                raise
            # The run dir holds a run of another config or dataset (or a finished run whose
            # stage record was lost): the stage's inputs say it must be trained afresh.
            attempt(restart=True)

    def merge() -> None:
        from intentforge.train.merge import merge as merge_adapter

        merge_adapter(paths.run_dir, out_dir=paths.merged, cache_dir=train_cfg.cache_dir)

    def export() -> None:
        from intentforge.export.gguf import export as export_gguf

        export_gguf(
            paths.merged,
            name=model_name(settings),
            out_dir=export_cfg.out_dir,
            quantizations=export_cfg.quantizations,
            base=train_cfg.base,
            cache_dir=export_cfg.cache_dir,
            threads=export_cfg.threads,
            progress=progress,
        )

    def evaluate() -> None:
        from intentforge.evaluate.report import write_report
        from intentforge.evaluate.runner import dataset_info, evaluate_models, load_rows

        eval_paths = _eval_inputs(settings, paths)
        rows = load_rows(eval_paths)
        results = evaluate_models(
            [str(p) for p in paths.models.values()], rows, catalogue, settings, progress=progress
        )
        write_report(results, dataset_info(rows, eval_paths), paths.report_dir)

    train_params = train_cfg.model_dump(mode="json", exclude={"runs_dir", "cache_dir"})
    return [
        Stage(
            "data",
            {
                "data": data.model_dump(
                    mode="json", exclude={"out_dir", "train_rows", "test_rows", "extra_train"}
                ),
                "catalogue": catalogue_id,
                "llm": settings.llm.model_dump(mode="json") if data.generator == "llm" else None,
            },
            [_DATA_PACKAGE] if data.generator == "templates" else [],
            [paths.generated],
            generate,
            "generate the dataset",
        ),
        Stage(
            "split",
            {"train_rows": data.train_rows, "test_rows": data.test_rows, "seed": data.seed},
            [paths.generated, *dev_sets, *data.extra_train],
            [paths.train, paths.test],
            split,
            "deduplicate and split",
        ),
        Stage("train", train_params, [paths.train], [paths.adapter], train, "fine-tune"),
        Stage("merge", {}, [paths.adapter], [paths.merged], merge, "merge the adapter"),
        Stage(
            "export",
            {"quantizations": export_cfg.quantizations},
            [paths.merged],
            list(paths.models.values()),
            export,
            "convert to GGUF and quantize",
        ),
        Stage(
            "eval",
            {"runtime": settings.runtime.model_dump(mode="json", exclude={"model_path"})},
            [*paths.models.values(), *_eval_inputs(settings, paths)],
            [paths.report_dir / "report.json", paths.report_dir / "report.html"],
            evaluate,
            "evaluate on the dev set",
        ),
    ]


def is_built(settings: Settings, catalogue: Catalogue) -> bool:
    """Whether every stage's outputs are current (a `run` can start serving at once)."""
    from intentforge.build.stages import is_current

    return all(is_current(stage, settings.build.state_dir) for stage in plan(settings, catalogue))


def build(
    settings: Settings,
    catalogue: Catalogue,
    *,
    force: bool = False,
    progress: Progress | None = None,
    on_start: Any = None,
) -> list[StageOutcome]:
    return run_stages(
        plan(settings, catalogue, progress),
        settings.build.state_dir,
        force=force,
        on_start=on_start,
    )

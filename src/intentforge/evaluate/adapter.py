"""Evaluate a training run before it is merged and exported (its LoRA adapter on the base, or
its fully fine-tuned weights, or its latest checkpoint) through transformers, with the same prompt
and end-of-turn token as training and serving.

Generation is greedy and unconstrained (no grammar), so JSON validity and the stop rate measure the
fine-tune itself; a GGUF evaluated through the runtime adds the grammar on top.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError
from intentforge.evaluate.predictors import Outcome, validate_output


def _weights(run_dir: Path) -> tuple[Path, str]:
    """Where the run's weights are: the finished adapter/ (LoRA) or model/ (full fine-tuning),
    else the latest checkpoint/ of a run still in progress."""
    if (run_dir / "adapter" / "adapter_config.json").is_file():
        return run_dir / "adapter", "adapter"
    if (run_dir / "model" / "config.json").is_file():
        return run_dir / "model", "model"
    if (run_dir / "checkpoint" / "weights.safetensors").is_file():
        return run_dir / "checkpoint", "checkpoint"
    raise IntentforgeError(
        f"no adapter, model or checkpoint in {run_dir}: pass a run directory of `intentforge train`"
    )


def _load(weights: Path, where: str, record: dict[str, Any], base: Any) -> Any:
    from intentforge.config import TrainConfig
    from intentforge.train.models import load_model

    if where == "adapter":
        from peft import PeftModel

        return PeftModel.from_pretrained(load_model(base, device="cpu"), weights)
    if where == "model":
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    # A checkpoint holds only the trainable weights: rebuild the model as training did.
    from safetensors.torch import load_file

    from intentforge.train.trainable import prepare_model

    model = prepare_model(TrainConfig.model_validate(record["train"]), base, "cpu")
    _, unexpected = model.load_state_dict(load_file(weights / "weights.safetensors"), strict=False)
    if unexpected:
        raise IntentforgeError(f"{weights} does not match the run's model: is the run complete?")
    return model


class AdapterPredictor:
    """A run directory of `intentforge train`, unmerged, with greedy generation."""

    kind = "adapter"

    def __init__(
        self,
        run_dir: Path,
        catalogue: Catalogue,
        runtime: RuntimeConfig,
        *,
        cache_dir: Path,
        max_tokens: int | None = None,
    ) -> None:
        import torch

        from intentforge.train.checkpoint import read_run_config
        from intentforge.train.models import load_tokenizer, resolve_base

        record = read_run_config(run_dir)
        weights, where = _weights(run_dir)
        self.name = f"{run_dir.name} ({where})"
        self.path = str(weights)
        self._catalogue = catalogue
        self._max_tokens = max_tokens or runtime.max_tokens
        torch.set_num_threads(runtime.n_threads)
        base = resolve_base(record["base"]["name"], cache_dir=cache_dir.expanduser())
        self._tokenizer: Any = load_tokenizer(base)
        self._model: Any = _load(weights, where, record, base)
        self._model.eval()
        eot_id: Any = self._tokenizer.convert_tokens_to_ids(record["end_of_turn"])
        self._eot_id = int(eot_id)
        pad = self._tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else self._eot_id)

    def predict(self, text: str) -> Outcome:
        import torch

        from intentforge.train.dataset import prompt_ids

        ids = prompt_ids(self._tokenizer, text)
        started = time.perf_counter()
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=self._max_tokens,
                do_sample=False,
                eos_token_id=self._eot_id,
                pad_token_id=self._pad_id,
            )
        latency_ms = (time.perf_counter() - started) * 1000
        new = output[0, len(ids) :].tolist()
        stopped = self._eot_id in new
        if stopped:
            new = new[: new.index(self._eot_id)]
        raw = self._tokenizer.decode(new, skip_special_tokens=False)
        calls, error = validate_output(self._catalogue, raw)
        first = calls[0] if calls else None
        return Outcome(first, raw, latency_ms, stopped, error, tuple(calls))

    def close(self) -> None:
        self._model = None

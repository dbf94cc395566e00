"""Fine-tuning: base models, tokenised datasets, the LoRA/QLoRA loop and the adapter merge."""

from intentforge.train.merge import merge
from intentforge.train.models import PRESETS, ResolvedBase, resolve_base
from intentforge.train.train import TrainResult, train

__all__ = ["PRESETS", "ResolvedBase", "TrainResult", "merge", "resolve_base", "train"]

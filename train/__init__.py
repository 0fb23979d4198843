"""Training: models, losses, offline data sets, the training loop and checkpoints (torch)."""

from train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from train.config import ModelConfig, TrainConfig
from train.data import Dataset, load_dataset
from train.latent import latent
from train.models import build_discriminator, build_generator
from train.trainer import RunOptions, RunResult, train

__all__ = [
    "Checkpoint",
    "Dataset",
    "ModelConfig",
    "RunOptions",
    "RunResult",
    "TrainConfig",
    "build_discriminator",
    "build_generator",
    "latent",
    "load_checkpoint",
    "load_dataset",
    "save_checkpoint",
    "train",
]

"""Training: models, losses, offline data sets, the training loop and checkpoints (torch)."""

from ganport.core.latent import latent
from ganport.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ganport.train.config import ModelConfig, TrainConfig
from ganport.train.data import Dataset, load_dataset
from ganport.train.models import build_discriminator, build_generator
from ganport.train.trainer import RunOptions, RunResult, train

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

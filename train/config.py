"""The one description of a model and of a training run.

Frozen dataclasses, serialised as plain dicts into the checkpoint and (the model part)
into the ONNX metadata, so every later stage rebuilds exactly what was trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ganport.core.classes import check_shares
from ganport.core.errors import InputError

# "own": a pair written elsewhere (``ModelConfig.own``: each model's source and layout).
ARCHS = ("mlp", "dcgan", "own")
LOSSES = ("bce", "hinge", "wgan-gp")
OPTIMIZERS = ("adam", "rmsprop")
NORMS = ("batch", "layer", "none")
CLASS_SOURCES = ("labels", "clusters")
PRECISIONS = ("auto", "float32", "bfloat16")
# Modes an unlabelled DCGAN (bce or hinge) draws from by default: k-means clusters of its
# images (``ganport.train.clusters``). On mnist5k, 60 epochs (EMA 0.999, G_ema with its own
# BatchNorm statistics), 12 / 16 / 20 modes gave classifier score 8.13 / 8.63 / 8.24,
# precision 0.58 / 0.64 / 0.61, recall 0.73 / 0.70 / 0.67 (README, `ganport pipeline`).
RECIPE_MODES = 16
DCGAN_SIZES = (28, 32, 64)
# Default epochs of each recipe (``TrainConfig.recipe_epochs``).
MLP_EPOCHS = 60
DCGAN_EPOCHS = 60
LABELLED_EPOCHS = 35  # a labelled DCGAN: its lighter mode-seeking term gets there sooner
MODES_EPOCHS = 70  # a DCGAN with modes: its decaying learning rate needs the longer run
WGAN_GP_EPOCHS = 40


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of G and D. ``d_norm`` is the discriminator's normalisation layer.

    ``classes`` > 0 makes the pair class-conditional (AC-GAN): G reads its class from
    z[:, 0] (``ganport.core.classes``), so it keeps the one-input contract, and D gets an
    auxiliary classifier head used in training only. 0: unconditional. ``class_source``
    says what the classes are: the data's ``labels``, or ``clusters`` of an unlabelled
    data set's images (``ganport.train.clusters``), modes found without labels.
    ``twin_classifier`` gives D a second class head, for generated images (TAC-GAN,
    ``ganport.train.losses.d_class_loss``). ``class_shares``: how often G draws each
    class (``ganport.core.classes``), None for equally often; a run on modes sets them to
    its clusters' shares of the images when it finds them (``ganport.train.clusters``).
    """

    arch: str = "dcgan"
    nz: int = 100
    channels: int = 1
    image_size: int = 28
    width: int = 64
    d_norm: str = "batch"
    classes: int = 0
    class_source: str = "labels"
    twin_classifier: bool = False
    class_shares: tuple[float, ...] | None = None
    # arch "own": per role, the model's ``spec`` and ``args`` (ganport.train.user_model)
    # and the ``layout`` it was found to have (ganport.train.adapt.Layout.to_dict)
    own: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.class_shares is not None:  # a checkpoint's JSON gives a list
            object.__setattr__(self, "class_shares", tuple(self.class_shares))
        if self.arch not in ARCHS:
            raise InputError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.arch == "dcgan" and self.image_size not in DCGAN_SIZES:
            raise InputError(
                f"dcgan supports image sizes {DCGAN_SIZES}, not {self.image_size}; "
                "use --arch mlp for other sizes"
            )
        if (self.arch == "own") != (self.own is not None):
            raise InputError("a model config names its own models exactly when arch is 'own'")
        if self.arch == "own" and self.classes:
            raise InputError("your own models take their classes as labels, not classes=")
        if self.channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3, not {self.channels}")
        if not 4 <= self.image_size <= 256:
            raise InputError(f"image size must be between 4 and 256, not {self.image_size}")
        if self.nz < 1 or self.width < 1:
            raise InputError("nz and width must be positive")
        if self.classes < 0 or self.classes == 1:
            raise InputError(f"classes must be 0 (unconditional) or at least 2, not {self.classes}")
        if self.class_source not in CLASS_SOURCES:
            raise InputError(
                f"unknown class source {self.class_source!r}; choose one of "
                f"{', '.join(CLASS_SOURCES)}"
            )
        check_shares(self.classes, self.class_shares, "model config")
        if self.class_shares is not None and self.class_source != "clusters":
            raise InputError("class shares are for modes (class source clusters), not labels")
        if self.twin_classifier and not self.classes:
            raise InputError("a twin classifier needs classes (a conditional model)")
        if self.d_norm not in NORMS:
            raise InputError(f"unknown d_norm {self.d_norm!r}; choose one of {', '.join(NORMS)}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's result. Same config, data and device → same run.

    The field defaults are the classic DCGAN settings; ``for_loss`` gives the tuned recipe
    the CLI uses.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: str = "mnist5k"
    loss: str = "bce"
    optimizer: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    seed: int = 0
    ema_decay: float = 0.999
    n_critic: int = 1
    gp_lambda: float = 10.0
    r1_gamma: float = 0.0  # R1 penalty on D's gradient at real images (0: off)
    r1_every: int = 4  # lazy R1: every k-th D step, weighted k times (a quarter of the cost)
    augment: bool = False  # DiffAugment (translation + cutout) on every image D sees
    mode_seeking: float = 0.0  # weight of the mode-seeking term in G's loss (0: off)
    # Share of the run after which both learning rates fall linearly to 0 at its last step
    # (1: constant); ``ganport.train.schedule``.
    lr_decay_from: float = 1.0
    # What the steps compute in (``ganport.train.precision``): float32, bfloat16, or auto,
    # which ``train`` resolves for its device before the run starts, so a checkpoint names
    # the format it was trained in.
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(
                f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.loss not in LOSSES:
            raise InputError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.loss == "wgan-gp" and self.model.d_norm == "batch":
            raise InputError(
                "a WGAN-GP critic must not use BatchNorm (the gradient penalty is per sample); "
                "use d_norm 'layer' or 'none'"
            )
        if self.lr <= 0 or self.batch_size < 1 or self.n_critic < 1 or self.r1_every < 1:
            raise InputError("lr, batch size, n_critic and r1_every must be positive")
        if self.r1_gamma < 0:
            raise InputError(f"the R1 weight must not be negative, not {self.r1_gamma}")
        if self.mode_seeking < 0:
            raise InputError(f"the mode-seeking weight must be ≥ 0, not {self.mode_seeking}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"ema decay must be in [0, 1), not {self.ema_decay}")
        if not 0.0 <= self.lr_decay_from <= 1.0:
            raise InputError(f"lr_decay_from must be in [0, 1], not {self.lr_decay_from}")

    @classmethod
    def for_loss(cls, loss: str, model: ModelConfig, modes: int = 0, **kwargs: Any) -> TrainConfig:
        """The tuned recipe for a loss and model; ``kwargs`` override it. ``modes`` > 0
        gives an unconditional model (``classes`` 0) that many k-means modes of its data
        (``ModelConfig.class_source``); the CLI passes ``RECIPE_MODES`` for a DCGAN with
        bce or hinge (``recipe_modes``).

        WGAN-GP gets a BN-free critic, one critic step per generator step and Adam betas
        (0.0, 0.9). A step is one critic update, so the paper's 5 critic steps left G 234
        updates in 15 epochs of mnist5k (5 minutes on 2 cores), and it drew grey blobs of
        one class (FID 568, classifier score 1.0). With 1 critic step, 1,000 steps give
        FID 9.1, score 5.8 and all 10 classes; betas (0.0, 0.9), the WGAN-GP paper's, then
        give FID 5.4, score 6.7 (README, `ganport train`).

        A DCGAN with BCE or hinge gets lr 2e-3 at batch 32, measured on mnist5k (README,
        `ganport evaluate`): after 40 epochs its classifier score is 9.06 of 10 against 6.84
        at the classic lr 2e-4 and batch 64, and the EMA of G smooths the noise of the
        larger steps. The MLP collapses at that rate and keeps the classic settings.
        Its EMA decays at 0.995, not 0.999: the shorter average keeps more of G's spread
        (conditional, 60 epochs: recall 0.77 → 0.79 for FID 0.16 → 0.19). A labelled one
        adds TAC-GAN's twin class head and a mode-seeking term of weight 0.03: at 35
        epochs in bfloat16, classifier score 9.46, FID 0.31, recall 0.80, where the earlier
        weight 0.07 with an EMA of 0.99 needed 60 epochs for 9.39, 0.34, 0.81, and at 45
        epochs gave 9.32, 0.35, 0.81 (docs/training.md, time to quality). One with modes
        instead lets both learning rates fall to zero over the second half of its run
        (``ganport.train.schedule``) and weights R1 0.3: 70 epochs, FID 0.77 → 0.69,
        precision / recall 0.63 / 0.73 → 0.65 / 0.75, the decay giving the recall and R1
        the precision (README).
        """
        kwargs.setdefault("precision", "auto")
        if modes and not model.classes:
            model = dataclasses.replace(model, classes=modes, class_source="clusters")
        if loss == "wgan-gp":
            kwargs.setdefault("n_critic", 1)
            kwargs.setdefault("betas", (0.0, 0.9))
            if model.d_norm == "batch":
                model = dataclasses.replace(model, d_norm="layer")
        elif model.arch == "dcgan":
            if model.classes and model.class_source == "labels":
                model = dataclasses.replace(model, twin_classifier=True)
                kwargs.setdefault("mode_seeking", 0.03)
            elif model.class_source == "clusters":
                kwargs.setdefault("r1_gamma", 0.3)
                kwargs.setdefault("lr_decay_from", 0.5)
            kwargs.setdefault("lr", 2e-3)
            kwargs.setdefault("batch_size", 32)
            kwargs.setdefault("r1_gamma", 1.0)
            kwargs.setdefault("ema_decay", 0.995)
        return cls(model=model, loss=loss, **kwargs)

    @staticmethod
    def recipe_modes(loss: str, model: ModelConfig) -> int:
        """k-means modes an unlabelled run of this loss and model gets by default: a DCGAN
        with bce or hinge draws from ``RECIPE_MODES`` (measured: README, `ganport
        pipeline`); the MLP and WGAN-GP recipes were not measured with modes and get none."""
        if model.classes or model.arch != "dcgan" or loss == "wgan-gp":
            return 0
        return RECIPE_MODES

    def recipe_epochs(self) -> int:
        """Epochs ``ganport train`` runs when given neither ``--epochs`` nor ``--steps``.

        Enough for the recipe to draw recognisable digits on mnist5k within 10 minutes on a
        2-core CPU (README, `ganport train`): one epoch, the old default, only ever gave
        noise. A DCGAN with BCE or hinge takes 60, a labelled one 35 (the pipeline's
        recipe, ``for_loss``), 70 with modes: its learning rate decays over the second
        half, and at 60 epochs that left recall at 0.73 (README, `ganport pipeline`).
        """
        if self.loss == "wgan-gp":
            return WGAN_GP_EPOCHS
        if self.model.arch == "mlp":
            return MLP_EPOCHS
        if self.model.class_source == "clusters":
            return MODES_EPOCHS
        return LABELLED_EPOCHS if self.model.classes else DCGAN_EPOCHS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict`` output; unknown keys are an error, not silently dropped."""
        try:
            values = dict(data)
            model = ModelConfig(**values.pop("model"))
            values["betas"] = tuple(values.get("betas", (0.5, 0.999)))
            return cls(model=model, **values)
        except (TypeError, KeyError, ValueError) as exc:
            raise InputError(f"checkpoint config is not a ganport training config ({exc})") from exc

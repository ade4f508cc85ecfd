"""A training run's settings (`TrainConfig`) and the one builder from a stage's defaults plus overrides, validated."""

import dataclasses

from kind_tf2.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multi_worker")
NAN_POLICIES = ("stop", "skip_step")  # a non-finite step: stop the run, or drop that update and go on
MIXED_PRECISION = {None: None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}  # name -> Keras dtype policy
# Counts that must be >= 1: a 0 would train nothing (epochs), divide by zero (batch_size) or never fire.
POSITIVE_COUNTS = ("epochs", "batch_size", "patch_size", "eval_every", "log_every", "max_keep")
# Settings of a stage that `reproduce` (--<stage>_<setting>), its presets and the lab override by name: {setting: type}.
STAGE_SETTINGS = {"epochs": int, "batch_size": int, "patch_size": int, "learning_rate": float,
                  "eval_every": int, "log_every": int, "loss": str, "lr_schedule": str, "mixed_precision": str}


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs. Built by `for_stage` (the command line, reproduce, the lab) or by hand."""

    data_dir: str = "./LOLdataset"
    checkpoint_dir: str = "./checkpoint/decom_net_train"
    decom_checkpoint: str = None
    epochs: int = 2000
    batch_size: int = 10
    patch_size: int = 48
    learning_rate: float = 1e-4
    seed: int = 0
    strategy: str = "default"
    eval_every: int = 200
    log_every: int = 10
    deterministic: bool = False
    export_tf1: bool = True
    max_keep: int = 3
    jit_compile: bool = False
    loss: str = None  # --loss spec; None: the stage's original objective
    vgg_weights: str = None  # VGG19 weights file for the `perceptual` term
    init_weights: str = None  # weights to start from instead of the seeded initialisation (not on resume)
    decom_cache: str = None  # folder of the DecompositionCache (stages 2 and 3); None: always decompose
    mixed_precision: str = None  # None: float32 (the original); "bf16" / "fp16": compute dtype, fp32 variables
    nan_policy: str = "stop"  # a non-finite loss or gradient: "stop" the run, or "skip_step" (drop the update)
    lr_schedule: str = None  # a name in training.schedules.SCHEDULES; None: the original's ("original")

    def validate(self, flag_prefix=""):
        """Raise ConfigError naming the flag of the first unusable setting; returns self.

        flag_prefix: how the stage settings' flags are spelled where they came from (`reproduce`
        has --restoration_epochs: prefix "restoration_").
        """
        from kind_tf2.training import schedules

        def flag(name):
            return f"--{flag_prefix if name in STAGE_SETTINGS else ''}{name}"

        for name in POSITIVE_COUNTS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{flag(name)}={value}: must be a whole number >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"{flag('learning_rate')}={self.learning_rate}: must be > 0")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy={self.strategy}: expected {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"--nan_policy={self.nan_policy}: expected one of {', '.join(NAN_POLICIES)}")
        if (self.lr_schedule or "original") not in schedules.SCHEDULES:
            raise ConfigError(f"{flag('lr_schedule')}={self.lr_schedule}: expected one of "
                              f"{', '.join(schedules.SCHEDULES)}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"{flag('mixed_precision')}={self.mixed_precision}: expected none, bf16 or fp16")
        return self


# The flags' names of the defaults: "none" precision, the "original" schedule are the config's None.
_NONE_SPELLINGS = {"mixed_precision": "none", "lr_schedule": "original"}


def for_stage(stage, *layers, flag_prefix="", **fixed):
    """The stage's `TrainConfig`: its defaults (the original's hyper-parameters), then each of `layers`
    (dicts of settings, later ones win; a value of None means "not given"), then `fixed`; validated.

    This is the one place stage defaults and overrides meet: the stage scripts pass the flags given,
    `reproduce` its preset and `--<stage>_<setting>` flags (flag_prefix: see `TrainConfig.validate`),
    the lab its `--epochs` etc.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = dict(stage.defaults)
    for layer in layers:
        settings.update({k: v for k, v in layer.items() if v is not None})
    settings.update(fixed)
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigError(f"{stage.name}: unknown setting(s) {', '.join(unknown)}")
    for key, spelling in _NONE_SPELLINGS.items():
        if settings.get(key) == spelling:
            settings[key] = None
    if not stage.needs_decom:
        settings.update(decom_checkpoint=None, decom_cache=None)
    return TrainConfig(**settings).validate(flag_prefix)

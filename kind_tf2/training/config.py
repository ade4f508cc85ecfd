"""A training run's settings (`TrainConfig`, validated when made) and the one builder from a stage's defaults plus overrides."""

import dataclasses

from kind_tf2.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multi_worker")
NAN_POLICIES = ("stop", "skip_step")  # a non-finite step: stop the run, or drop that update and go on
MIXED_PRECISION = {None: None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}  # name -> Keras dtype policy
# What `mixed_precision` may ask for: a precision, or "auto" (bf16 where native, else float32; `hardware`).
PRECISION_CHOICES = (*MIXED_PRECISION, "auto")
# Counts that must be >= 1: a 0 would train nothing (epochs), divide by zero (batch_size) or never fire.
POSITIVE_COUNTS = ("epochs", "batch_size", "patch_size", "eval_every", "log_every", "max_keep")
# Optional counts and durations: None (not set) or > 0.
OPTIONAL_POSITIVE = ("steps", "time_budget")
# Settings of a stage that `reproduce` (per stage), its presets and the lab override by name: {setting: type}.
STAGE_SETTINGS = {"epochs": int, "batch_size": int, "patch_size": int, "learning_rate": float,
                  "eval_every": int, "log_every": int, "loss": str, "lr_schedule": str, "mixed_precision": str,
                  "steps": int, "time_budget": str, "checkpoint_every": float}
# time_budget spelled with a unit: 90s, 10m, 1.5h (a bare number is seconds).
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value, name="time_budget"):
    """Seconds of `value`: a number, or a string such as "600", "90s", "10m", "1.5h"; ConfigError if not."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if value is None else float(value)
    text = str(value).strip().lower()
    number, unit = text, "s"
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            number, unit = text[:-len(suffix)], suffix
            break
    try:
        return float(number) * _UNITS[unit]
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected seconds or a duration such as 90s, 10m, 2h",
                          fields=(name,)) from None


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs, checked when it is made (ConfigError naming the field). Built by `for_stage`
    (the command line, reproduce, the lab) or by hand; `time_budget` may be given as "10m"."""

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
    loss: str = None  # a spec (losses.parse_spec); None: the stage's original objective
    vgg_weights: str = None  # VGG19 weights file for the `perceptual` term
    init_weights: str = None  # weights to start from instead of the seeded initialisation (not on resume)
    decom_cache: str = None  # folder of the DecompositionCache (stages 2 and 3); None: always decompose
    mixed_precision: str = None  # None: float32 (the original); "bf16" / "fp16": compute dtype, fp32 variables
    nan_policy: str = "stop"  # a non-finite loss or gradient: "stop" the run, or "skip_step" (drop the update)
    lr_schedule: str = None  # a name in training.schedules.SCHEDULES; None: the original's ("original")
    # The run's length in steps instead of `epochs` (the last epoch may end early); the learning-rate
    # schedule then spans exactly these steps, evaluated per step.
    steps: int = None
    # Seconds for the whole stage (data, training, saves): the step time is measured on this machine
    # first and `steps` set to fit (recorded in <checkpoint_dir>/budget.json, reused on resume).
    time_budget: float = None
    # Seconds between epoch-end checkpoints (and `<net>.weights.h5`); 0: every epoch. The last step,
    # a preemption and a diverged run are always saved, so resuming stays exact either way.
    checkpoint_every: float = 0.0

    def __post_init__(self):
        from kind_tf2.training import schedules

        def bad(name, why):
            return ConfigError(f"{name}={getattr(self, name)}: {why}", fields=(name,))

        self.time_budget = parse_duration(self.time_budget)
        for name in POSITIVE_COUNTS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a whole number >= 1")
        for name in OPTIONAL_POSITIVE:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0
                                      or name == "steps" and not isinstance(value, int)):
                raise bad(name, f"must be {'a whole number ' if name == 'steps' else ''}> 0")
        if not self.checkpoint_every >= 0:
            raise bad("checkpoint_every", "must be >= 0 seconds")
        if not self.learning_rate > 0:
            raise bad("learning_rate", "must be > 0")
        if self.strategy not in STRATEGIES:
            raise bad("strategy", f"expected {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}")
        if self.nan_policy not in NAN_POLICIES:
            raise bad("nan_policy", f"expected one of {', '.join(NAN_POLICIES)}")
        if (self.lr_schedule or "original") not in schedules.SCHEDULES:
            raise bad("lr_schedule", f"expected one of {', '.join(schedules.SCHEDULES)}")
        if self.mixed_precision not in PRECISION_CHOICES:
            raise bad("mixed_precision", "expected none, auto, bf16 or fp16")


# The flags' names of the defaults: "none" precision, the "original" schedule are the config's None.
_NONE_SPELLINGS = {"mixed_precision": "none", "lr_schedule": "original"}


def for_stage(stage, *layers, **fixed):
    """The stage's `TrainConfig`: its defaults (the original's hyper-parameters), then each of `layers`
    (dicts of settings, later ones win; a value of None means "not given"), then `fixed`; validated.

    This is the one place stage defaults and overrides meet: the stage scripts pass the settings
    given, `reproduce` its preset and per-stage overrides, the lab its own settings. A ConfigError
    names the field.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = dict(stage.defaults)
    for layer in layers:
        settings.update({k: v for k, v in layer.items() if v is not None})
    settings.update(fixed)
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigError(f"{stage.name}: unknown setting(s) {', '.join(unknown)}", fields=tuple(unknown))
    for key, spelling in _NONE_SPELLINGS.items():
        if settings.get(key) == spelling:
            settings[key] = None
    if not stage.needs_decom:
        settings.update(decom_checkpoint=None, decom_cache=None)
    return TrainConfig(**settings)

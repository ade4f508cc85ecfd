"""The loss laboratory's settings: its config, the variants (objectives) it compares, their folders and TrainConfigs."""

import dataclasses
import hashlib
import os
import re

from kind_tf2 import errors, losses, presets
from kind_tf2.metrics import catalog

LAB_STAGES = ("restoration", "illumination")
# The scores of a variant and which way is better; the uncertainty tables cover these.
# End to end (with the other networks from their checkpoints, gt_ratio) every output is scored by these
# registered metrics (metrics.catalog), column e2e_<name>: the paper's three, the colour error the
# survey's colour terms target, and the two no-reference ones (about 5 % of an enhancement's cost).
E2E_METRICS = {"e2e_psnr": "psnr", "e2e_ssim": "ssim_rgb", "e2e_loe": "loe", "e2e_ciede2000": "ciede2000",
               "e2e_niqe": "niqe", "e2e_brisque": "brisque"}
# Every lab metric and the registered metric it is (stage scores compare the network output with its target).
REGISTERED = {"psnr": "psnr", "ssim": "ssim_rgb", **E2E_METRICS}
LAB_METRICS = {col: catalog.METRICS[name].higher_is_better for col, name in REGISTERED.items()}


def decimals(metric):
    """Decimals a lab metric prints with: its registered metric's (metrics.catalog)."""
    return catalog.METRICS[REGISTERED[metric]].decimals


# A difference whose whole CI lies within +-margin is "no practical difference" (--margins).
DEFAULT_MARGINS = ("psnr:0.05,ssim:0.002,e2e_psnr:0.05,e2e_ssim:0.002,e2e_loe:5,e2e_ciede2000:0.05,"
                   "e2e_niqe:0.05,e2e_brisque:0.5")
SAMPLE_ROWS = 4  # eval images shown in samples.png


@dataclasses.dataclass
class LabConfig:
    """What one laboratory run compares; the command line fills it from the flags of the same names."""

    stage: str
    data_dir: str
    decom_checkpoint: str
    out: str
    variants: str = "default"
    epochs: int = None  # None: the stage's default (the original's)
    batch_size: int = None
    patch_size: int = None
    learning_rate: float = None
    preset: str = "original"  # a name in presets.PRESETS: the stage's settings under the lab's flags
    lr_schedule: str = None  # None: the preset's (training.schedules)
    mixed_precision: str = None  # None: the preset's
    seed: int = 0
    vgg_weights: str = None
    decom_cache: str = None  # folder of the frozen DecomNet's outputs (as the stage scripts); None: decompose
    illumination_checkpoint: str = None  # with stage="restoration": end-to-end scores
    restoration_checkpoint: str = None  # with stage="illumination": end-to-end scores
    log_every: int = 10
    seeds: int = 1  # runs per variant: seeds seed, seed + 1, ... (initialisation and patch order, shared by variants)
    margins: str = DEFAULT_MARGINS  # metric:margin,... the practical margins of the comparisons
    level: float = 0.05  # significance level, after Holm's correction over the variants
    # What the variants are scored on: "eval", the stage's eval split (for restoration the original's
    # held-out our485 467..479 and eval15), or "validation", our485's validation split (sorted pairs
    # 466..484, full LOL only), on which objectives are chosen without looking at eval15.
    scoring: str = "eval"


def parse_margins(value):
    """`margins` ("psnr:0.05,ssim:0.002") -> {metric: margin}; ConfigError naming the field when malformed."""
    out = {}
    for item in (i.strip() for i in (value or "").split(",")):
        if not item:
            continue
        name, _, number = item.partition(":")
        try:
            margin = float(number)
        except ValueError:
            margin = -1.0
        if name not in LAB_METRICS or not margin >= 0:
            raise errors.ConfigError(f"margins={value}: {item!r} is not <metric>:<margin >= 0> with a metric of "
                                     f"{', '.join(LAB_METRICS)}", fields=("margins",))
        out[name] = margin
    return out


def run_folder(cfg, variant, k):
    """The folder of seed index k of a variant: the variant's folder for the first seed, `seed_<s>/` in it else."""
    return variant.folder if k == 0 else os.path.join(variant.folder, f"seed_{cfg.seed + k}")


@dataclasses.dataclass
class Variant:
    """One objective under comparison."""

    label: str  # as the user wrote it ("default" or the spec)
    spec: str  # canonical spec
    is_default: bool
    folder: str  # out/variants/<slug>
    objective: object = None  # the stage's objective for `spec`, built once


def slug(spec):
    """A folder name for a canonical spec: readable prefix plus a hash (the order of the variants does not matter)."""
    readable = re.sub(r"[^A-Za-z0-9.=_-]+", "_", spec).strip("_")[:48]
    return f"{readable}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def parse_variants(cfg, stage):
    """`variants` ("default;l1:1;...") -> [Variant]; SpecError names the variant at fault."""
    variants, seen = [], {}
    patch = cfg.patch_size or stage.defaults["patch_size"]
    for raw in (v.strip() for v in cfg.variants.split(";")):
        if not raw:
            continue
        is_default = raw == "default"
        try:
            objective = stage.objective(None if is_default else raw, patch, cfg.vgg_weights)
        except losses.SpecError as err:
            raise losses.SpecError(f"variants: {raw!r}: {err.message}", fields=("variants", *err.fields)) from None
        spec = objective.spec
        if spec in seen:
            raise losses.SpecError(f"variants: {raw!r} is the same objective as {seen[spec]!r}", fields=("variants",))
        seen[spec] = raw
        is_default = is_default or spec == stage.objective(None).spec
        variants.append(Variant(raw, spec, is_default, os.path.join(cfg.out, "variants", slug(spec)), objective))
    if not variants:
        raise losses.SpecError("variants is empty", fields=("variants",))
    return variants


def train_config(cfg, stage, variant, init_weights, k=0):
    """The TrainConfig of seed index k of a variant: the stage's defaults, then the lab's settings that were given."""
    from kind_tf2.training import config

    preset = presets.get(cfg.preset).stages.get(stage.name, {})
    given = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "patch_size": cfg.patch_size,
             "learning_rate": cfg.learning_rate, "lr_schedule": cfg.lr_schedule,
             "mixed_precision": cfg.mixed_precision}
    epochs = next(e for e in (cfg.epochs, preset.get("epochs"), stage.defaults["epochs"]) if e is not None)
    preset = {key: value for key, value in preset.items() if key != "eval_every"}  # the lab evaluates once, at the end
    return config.for_stage(
        stage, preset, given, data_dir=cfg.data_dir, checkpoint_dir=run_folder(cfg, variant, k),
        decom_checkpoint=cfg.decom_checkpoint, seed=cfg.seed + k, eval_every=epochs, log_every=cfg.log_every,  # samples once, at the end
        export_tf1=False, loss=None if variant.label == "default" else variant.spec, vgg_weights=cfg.vgg_weights,
        init_weights=init_weights, decom_cache=cfg.decom_cache,
    )


def check(cfg):
    """`(stage, variants, margins)` of a lab config, checked before any work; a KindError names the field at fault."""
    from kind_tf2.training import stages

    if cfg.stage not in LAB_STAGES:
        raise errors.ConfigError(f"stage={cfg.stage}: expected one of {', '.join(LAB_STAGES)}", fields=("stage",))
    stage = stages.STAGES[cfg.stage]()
    variants = parse_variants(cfg, stage)
    other = "restoration_checkpoint" if cfg.stage == "illumination" else "illumination_checkpoint"
    wrong = "illumination_checkpoint" if cfg.stage == "illumination" else "restoration_checkpoint"
    if getattr(cfg, wrong):
        raise errors.ConfigError(f"stage={cfg.stage} trains that network itself; for end-to-end scores give {other}",
                                 fields=("stage", other))
    train_config(cfg, stage, variants[0], None)  # a bad epochs / batch_size stops here, before any work
    if cfg.scoring not in stages.SCORING:
        raise errors.ConfigError(f"scoring={cfg.scoring}: expected one of {', '.join(stages.SCORING)}",
                                 fields=("scoring",))
    if not (isinstance(cfg.seeds, int) and cfg.seeds >= 1):
        raise errors.ConfigError(f"seeds={cfg.seeds}: must be a whole number >= 1", fields=("seeds",))
    return stage, variants, parse_margins(cfg.margins)

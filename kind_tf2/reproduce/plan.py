"""What a reproduction will do, settled before any work: its config, every stage's settings and objective, checked once."""

import dataclasses
import os

from kind_tf2 import checkpoints, errors, presets

STAGE_ORDER = ("decomposition", "illumination", "restoration")
# Stages whose network can be given instead of trained (`ReproduceConfig.given`).
GIVEN_STAGES = ("decomposition", "illumination")
# The results key of the validation split (our485 [466:485], gt_ratio) next to the eval15 protocols.
VALIDATION_KEY = "validation_gt_ratio"
NO_RESTORATION_LABEL = "this run without Restoration_net (R_hat = R)"


class ReproduceError(errors.ConfigError):
    """A problem with the run as a whole (folders, settings, stale stages); the message names the field or folder."""


@dataclasses.dataclass
class ReproduceConfig:
    """What `reproduce` needs; the command line fills it from its flags, the quickstart from its own settings."""

    data_dir: str = "./LOLdataset"
    out: str = "./runs/kind"
    overrides: dict = dataclasses.field(default_factory=dict)  # {stage: {setting: value}}, over the preset's
    preset: str = "original"  # a name in presets.PRESETS: per-stage settings over the original's
    given: dict = dataclasses.field(default_factory=dict)  # {stage: checkpoint} used instead of training it
    decom_cache: str = None  # DecompositionCache folder for stages 2 and 3 (None: decompose every run)
    validation: bool = False  # also score the our485 validation split (VALIDATION_SPLIT) under gt_ratio
    seed: int = 0
    strategy: str = "default"
    reference_checkpoint_dir: str = None
    ratio: float = 5.0  # fixed_ratio and gt_mean: the constant ratio map
    metrics: str = "default"  # the evaluations' metrics (metrics.catalog)
    vgg_weights: str = None
    deterministic: bool = False
    title: str = "KinD reproduction"
    log_steps: bool = True  # progress lines of every training step (the quickstart keeps them out)
    command: str = None  # the command line that made the run, written at the top of the report
    publish_dir: str = None  # copy the report, plots and metrics there at the end (`publish`)


@dataclasses.dataclass
class StagePlan:
    """One stage of the run: trained with `config` and `objective`, or its network `given` (then both None)."""

    name: str
    stage: object  # training.stages.Stage
    config: object = None  # training.config.TrainConfig
    objective: object = None  # the stage's losses objective, built once
    given: str = None  # the checkpoint used instead of training


def stage_folder(out, stage):
    """`<out>/checkpoint/<the original's folder name>`: evaluating `checkpoint_dir=<out>/checkpoint` then finds all three."""
    return os.path.join(out, "checkpoint", checkpoints.TF1_SUBDIR[stage.scope])


def stage_of(name):
    """The training stage `name` (training.stages)."""
    from kind_tf2.training import stages

    return stages.STAGES[name]()


def network_source(cfg, name):
    """Where stage `name`'s network comes from: the given checkpoint, or this run's stage folder."""
    return cfg.given.get(name) or stage_folder(cfg.out, stage_of(name))


def train_config(cfg, stage):
    """The stage's TrainConfig: the original's hyper-parameters, the preset's, then `cfg.overrides[stage.name]`."""
    from kind_tf2.training import config

    preset, overrides = presets.get(cfg.preset).stages.get(stage.name, {}), cfg.overrides.get(stage.name, {})
    unknown = sorted((set(preset) | set(overrides)) - set(config.STAGE_SETTINGS))
    if unknown:
        raise ReproduceError(f"cannot override {', '.join(unknown)} (settings: {', '.join(config.STAGE_SETTINGS)})",
                             fields=tuple(unknown), section=stage.name)
    decom = network_source(cfg, "decomposition") if stage.needs_decom else None
    return config.for_stage(
        stage, preset, overrides, data_dir=cfg.data_dir, checkpoint_dir=stage_folder(cfg.out, stage),
        decom_checkpoint=decom, seed=cfg.seed, strategy=cfg.strategy, deterministic=cfg.deterministic,
        vgg_weights=None if stage.name == "decomposition" else cfg.vgg_weights, decom_cache=cfg.decom_cache,
    )


def _check_folders(cfg):
    for sub in ("our485", "eval15"):
        if not os.path.isdir(os.path.join(cfg.data_dir, sub)):
            raise ReproduceError(f"data_dir={cfg.data_dir}: no {sub}/ folder (the LOL layout: our485/ and "
                                 "eval15/, each with low/ and high/)", fields=("data_dir",))
    if cfg.reference_checkpoint_dir and not os.path.isdir(cfg.reference_checkpoint_dir):
        raise ReproduceError(f"reference_checkpoint_dir={cfg.reference_checkpoint_dir}: folder does not exist",
                             fields=("reference_checkpoint_dir",))
    for name, source in cfg.given.items():
        if name not in GIVEN_STAGES:
            raise ReproduceError(f"given: {name}: only {', '.join(GIVEN_STAGES)} can be given instead of trained",
                                 fields=("given",))
        if not (os.path.exists(source) or os.path.exists(source + ".index")):
            raise ReproduceError(f"given.{name}={source}: no such checkpoint folder or file", fields=(f"given.{name}",))


def plan(cfg):
    """`{stage name: StagePlan}` in STAGE_ORDER: every setting and objective of the run, checked once, before any work.

    Raises a KindError naming the field (a stage's own settings in that stage's section: a bad
    `overrides["restoration"]["loss"]` is `restoration: loss=...`), or the folder at fault.
    """
    _check_folders(cfg)
    presets.get(cfg.preset)
    plans = {}
    for name in STAGE_ORDER:
        stage = stage_of(name)
        if name in cfg.given:
            plans[name] = StagePlan(name, stage, given=cfg.given[name])
            continue
        try:
            tcfg = train_config(cfg, stage)
            objective = stage.objective(tcfg.loss, tcfg.patch_size, tcfg.vgg_weights)
        except errors.KindError as err:
            raise err.in_section(name) from None
        plans[name] = StagePlan(name, stage, tcfg, objective)
    from kind_tf2.reporting import plots

    plots.pyplot()  # the report needs matplotlib: say so before hours of training
    return plans


def eval_models(cfg):
    """(label, checkpoint folder, {stage: given network}, results folder) of every model evaluated."""
    ckpt = os.path.join(cfg.out, "checkpoint")
    models_ = [("this run", ckpt, cfg.given, os.path.join(cfg.out, "eval"))]
    if cfg.reference_checkpoint_dir:
        models_.append((f"reference ({cfg.reference_checkpoint_dir})", cfg.reference_checkpoint_dir, {},
                        os.path.join(cfg.out, "eval_reference")))
    # What the restoration stage adds: the same first two networks with R_hat = R.
    models_.append((NO_RESTORATION_LABEL, ckpt, dict(cfg.given, restoration="none"),
                    os.path.join(cfg.out, "eval_no_restoration")))
    return models_

"""The commands of `kind-tf2`: each defines its flags (from `cli.flags`), builds its job's config and runs it."""

import shlex
import sys

from absl import flags as absl_flags

from kind_tf2 import process
from kind_tf2.cli import flags
from kind_tf2.cli.runner import error_lines, exit_status

F = absl_flags.FLAGS


# ---- the three training stages -----------------------------------------------------------------------------

def _stage(name):
    from kind_tf2.training import stages

    return stages.STAGES[name]()


def define_train(stage_name):
    flags.train_flags(_stage(stage_name))


def train_config(stage):
    """The stage's TrainConfig from its flags (defaults from `train_flags`); a ConfigError names the field (= flag)."""
    from kind_tf2.training import config

    given = {name: getattr(F, name) for name in (
        "data_dir", "checkpoint_dir", "epochs", "batch_size", "patch_size", "learning_rate", "seed", "strategy",
        "eval_every", "log_every", "deterministic", "export_tf1", "nan_policy", "mixed_precision", "loss",
        "lr_schedule", "steps", "time_budget", "checkpoint_every")}
    if stage.needs_decom:
        given.update(decom_checkpoint=F.decom_checkpoint, decom_cache=flags.decom_cache_dir(F.decom_cache))
    if "vgg_weights" in F:
        given["vgg_weights"] = F.vgg_weights
    return config.for_stage(stage, given)


def _train_job(stage):
    from kind_tf2.training import engine

    return engine.train(stage, train_config(stage))


def run_train(stage_name):
    return lambda argv: exit_status(_train_job, _stage(stage_name))


# ---- evaluate ------------------------------------------------------------------------------------------

def define_evaluate():
    from kind_tf2 import evaluation

    absl_flags.DEFINE_string("input_dir", None, "Folder of low-light images (.png .jpg .jpeg .bmp .tif .tiff).")
    absl_flags.DEFINE_string("output_dir", "./results/test", "Where <name>_kindle.png, metrics and the grid go.")
    flags.network_flags()
    flags.ratio("Fixed illumination ratio (evaluate.py semantics), usually 0..5.")
    absl_flags.DEFINE_string("high_dir", None, "Ground truth, matched by file name: the ratio comes from its "
                             "decomposition (evaluate_LOLdataset.py) and metrics are written.")
    absl_flags.DEFINE_enum("protocol", "auto", ["auto"] + list(evaluation.PROTOCOLS),
                           "auto: gt_ratio when --high_dir is given, else fixed_ratio. fixed_ratio with "
                           "--high_dir scores the evaluate.py output; gt_mean scales that output to the ground "
                           "truth's mean grey level before scoring (needs --high_dir).")
    absl_flags.DEFINE_bool("grid", True, "Write comparison_grid.png (input | output | ground truth).")
    flags.tile()
    flags.metrics()
    absl_flags.DEFINE_bool("exif_orientation", False, "Turn photos as their EXIF orientation tag says (phones store "
                           "upright photos sideways with a tag) before enhancing. Off by default: the original "
                           "read the stored pixels and so, for parity, does this port.")
    absl_flags.mark_flag_as_required("input_dir")


def run_evaluate(argv):
    from kind_tf2 import evaluation

    process.one_inter_op_thread()
    cfg = evaluation.EvalConfig(
        input_dir=F.input_dir, output_dir=F.output_dir, checkpoint_dir=F.checkpoint_dir,
        decom_checkpoint=F.decom_checkpoint, illumination_checkpoint=F.illumination_checkpoint,
        restoration_checkpoint=F.restoration_checkpoint, ratio=F.ratio, high_dir=F.high_dir,
        protocol=F.protocol, grid=F.grid, tile=F.tile, metrics=F.metrics, exif_orientation=F.exif_orientation,
    )
    # 1 when the job or any image failed, each said in an `error:` line.
    return exit_status(evaluation.evaluate, cfg, warn=error_lines())


# ---- reproduce -------------------------------------------------------------------------------------------

# Flag prefix of each stage: --decom_epochs, --illumination_batch_size, --restoration_loss, ...
FLAG_PREFIX = {"decomposition": "decom", "illumination": "illumination", "restoration": "restoration"}
# The flag that gives a stage's network instead of training it (ReproduceConfig.given).
GIVEN_FLAG = {"decomposition": "decom_checkpoint", "illumination": "illumination_checkpoint"}


def reproduce_flag(field, section=None):
    """The reproduce flag of a config field: a stage's own setting under its prefix (`(--restoration_epochs, True)`:
    the flag says the stage), a given network as its checkpoint flag, any other field under its name."""
    from kind_tf2.training import config

    if section in FLAG_PREFIX and field in config.STAGE_SETTINGS:
        return f"--{FLAG_PREFIX[section]}_{field}", True
    if field.startswith("given."):
        return f"--{GIVEN_FLAG.get(field[len('given.'):], field)}"
    return f"--{field}"


def define_reproduce():
    from kind_tf2 import reproduce
    from kind_tf2.training import config

    flags.data_dir()
    flags.out("./runs/kind", "Checkpoints, evaluations and the report; re-running resumes.")
    absl_flags.DEFINE_string("reference_checkpoint_dir", None, "Other KinD weights (e.g. the released ones in the "
                             "original ./checkpoint/ layout) evaluated side by side.")
    flags.seed("Seed of the initialisation and the patches of every stage.")
    flags.strategy()
    flags.ratio()
    flags.vgg_weights("Keras VGG19 weights for a `perceptual` term in a --*_loss.")
    flags.deterministic()
    flags.preset(". --<stage>_<setting> flags override it.")
    flags.decom_checkpoint(None, "Use this DecomNet (e.g. the released one) instead of training stage 1.")
    flags.illumination_checkpoint("Use this Illumination_adjust_net instead of training stage 2.")
    flags.decom_cache("Cache of the frozen DecomNet's outputs for stages 2 and 3 (as the stage scripts): "
                      "default: the user cache folder; none: decompose every run.")
    absl_flags.DEFINE_bool("validation", False, "Also score the our485 validation split (sorted pairs 466..484, "
                           "never trained on by Restoration_net) under gt_ratio: what schedules are chosen on.")
    absl_flags.DEFINE_string("title", "KinD reproduction", "Title of the report.")
    flags.metrics()
    absl_flags.DEFINE_string("publish_dir", None, "At the end, copy the report, its plots and the metrics files (no "
                             "images, no weights) there, e.g. docs/real_lol/<run>.")
    for name in reproduce.STAGE_ORDER:
        prefix = FLAG_PREFIX[name]
        for setting, kind in config.STAGE_SETTINGS.items():
            flags.stage_setting(f"{prefix}_{setting}", kind, None, f"{name} stage: --{setting} (default: the original's).")


def run_reproduce(argv, prog="python -m kind_tf2.reproduce", raw=()):
    from kind_tf2 import reproduce
    from kind_tf2.training import config

    overrides = {}
    for name in reproduce.STAGE_ORDER:
        for setting in config.STAGE_SETTINGS:
            value = getattr(F, f"{FLAG_PREFIX[name]}_{setting}")
            if value is not None:
                overrides.setdefault(name, {})[setting] = value
    given = {name: getattr(F, flag) for name, flag in GIVEN_FLAG.items() if getattr(F, flag)}
    # One flag a line, as a shell would take it back.
    command = " \\\n    ".join([prog] + [shlex.quote(a) for a in raw])
    cfg = reproduce.ReproduceConfig(
        data_dir=F.data_dir, out=F.out, overrides=overrides, seed=F.seed, strategy=F.strategy,
        reference_checkpoint_dir=F.reference_checkpoint_dir, ratio=F.ratio, vgg_weights=F.vgg_weights,
        deterministic=F.deterministic, preset=F.preset, given=given, decom_cache=flags.decom_cache_dir(F.decom_cache),
        validation=F.validation, command=command, publish_dir=F.publish_dir, title=F.title, metrics=F.metrics)
    return exit_status(reproduce.reproduce, cfg, flag=reproduce_flag)


# ---- the loss laboratory ---------------------------------------------------------------------------------

def define_lab():
    from kind_tf2.studies import lab

    absl_flags.DEFINE_enum("stage", "restoration", list(lab.LAB_STAGES), "The stage whose objective is compared.")
    flags.data_dir()
    flags.decom_checkpoint("./checkpoint/decom_net_train", "Stage-1 folder or original TF1 DecomNet.")
    flags.out("./runs/lab", "Folder of the variants and the reports; re-running resumes.")
    absl_flags.DEFINE_string("variants", "default", "Objectives separated by ';': 'default' or a --loss spec each.")
    flags.stage_setting("epochs", int, None, "Epochs per variant (default: the stage's original).")
    flags.stage_setting("batch_size", int, None, "Global batch (default: the stage's original).")
    flags.stage_setting("patch_size", int, None, "Patch side (default: the stage's original).")
    flags.stage_setting("learning_rate", float, None, "Adam learning rate (default: the stage's original).")
    flags.preset(". The lab's --epochs etc. override it; evaluation once, at the end.")
    flags.lr_schedule(None, " default: the preset's.")
    flags.mixed_precision(None, " default: the preset's.")
    flags.seed("Seed of the initialisation and the patches, shared by all variants (the first of --seeds).")
    absl_flags.DEFINE_integer("seeds", 1, "Runs per variant, seeds --seed, --seed+1, ...: with 2 or more the CIs also "
                              "cover the variation between training runs.")
    absl_flags.DEFINE_string("margins", lab.DEFAULT_MARGINS, "Practical margins, metric:value,...: a difference "
                             "whose whole 95 % CI lies within +-margin is 'no practical difference'.")
    absl_flags.DEFINE_float("level", 0.05, "Significance level after Holm's correction over the variants.")
    flags.vgg_weights("Keras VGG19 weights file for the `perceptual` term.")
    flags.decom_cache("Cache of the frozen DecomNet's outputs on the training images (as the stage scripts): "
                      "default: $XDG_CACHE_HOME/kind_tf2/decomposed; none: decompose every run.")
    flags.illumination_checkpoint("With --stage=restoration: end-to-end scores with it.")
    flags.restoration_checkpoint("With --stage=illumination: end-to-end scores with it.")
    flags.log_every()
    absl_flags.DEFINE_enum("scoring", "eval", ["eval", "validation"], "What each variant is scored on: eval, the "
                           "stage's eval split (restoration: held-out our485 467..479 and eval15); validation, "
                           "our485's validation split (sorted pairs 466..484, the full LOL), on which objectives "
                           "are chosen without looking at eval15.")


def run_lab(argv):
    from kind_tf2.studies import lab

    cfg = lab.LabConfig(
        stage=F.stage, data_dir=F.data_dir, decom_checkpoint=F.decom_checkpoint, out=F.out, variants=F.variants,
        epochs=F.epochs, batch_size=F.batch_size, patch_size=F.patch_size, learning_rate=F.learning_rate,
        preset=F.preset, lr_schedule=F.lr_schedule, mixed_precision=F.mixed_precision,
        decom_cache=flags.decom_cache_dir(F.decom_cache),
        seed=F.seed, vgg_weights=F.vgg_weights, illumination_checkpoint=F.illumination_checkpoint,
        restoration_checkpoint=F.restoration_checkpoint, log_every=F.log_every, seeds=F.seeds, margins=F.margins,
        level=F.level, scoring=F.scoring,
    )
    return exit_status(lab.run_lab, cfg)


def define_anatomy():
    from kind_tf2.studies import anatomy

    absl_flags.DEFINE_string("images", None, "Folder of clean images (e.g. LOL eval15/high).")
    flags.out("./runs/anatomy", "Where the tables, plots and the summary go.")
    absl_flags.DEFINE_string("low_images", None, "The paired low-light images (same names): the lowlight distortion "
                             "and the terms that need the low input.")
    absl_flags.DEFINE_string("terms", None, "Comma list of loss terms (default: every term whose needs are met).")
    absl_flags.DEFINE_string("distortions", None, "Comma list of " + ", ".join(anatomy.DISTORTIONS) + " (default: "
                             "all that can run).")
    absl_flags.DEFINE_integer("strengths", 4, "Levels per distortion besides the clean image (the strongest kept).")
    absl_flags.DEFINE_integer("max_images", None, "Use the first N images only.")
    absl_flags.DEFINE_integer("size", None, "Resize each image so that its short side is N px.")
    flags.seed("Seed of the noise distortion.")
    flags.vgg_weights("Keras VGG19 weights file: the `perceptual` term is measured too.")
    absl_flags.mark_flag_as_required("images")


def run_anatomy(argv):
    from kind_tf2.studies import anatomy

    cfg = anatomy.AnatomyConfig(images=F.images, out=F.out, low_images=F.low_images, terms=F.terms,
                                distortions=F.distortions, strengths=F.strengths, max_images=F.max_images,
                                size=F.size, seed=F.seed, vgg_weights=F.vgg_weights)
    # 1 when the job or any image failed, each said in an `error:` line.
    return exit_status(anatomy.run, cfg, warn=error_lines())


# ---- golden, export, convert, baselines ------------------------------------------------------------------

def define_golden():
    from kind_tf2.deploy import golden

    flags.network_flags()
    absl_flags.DEFINE_string("input_dir", None, "record: the images to record.")
    flags.out(None, "record: the golden folder to write.")
    flags.ratio("record: constant illumination ratio (evaluate.py semantics).")
    absl_flags.DEFINE_string("golden", None, "check: a golden folder written by record.")
    absl_flags.DEFINE_float("atol", None, f"Absolute tolerance (record: stored, default {golden.DEFAULT_ATOL:g}; "
                            "check: overrides the stored one).")


GOLDEN_USAGE = ("usage: {prog} record --checkpoint_dir=C --input_dir=I --out=G [--ratio=5]\n"
                "       {prog} check  --checkpoint_dir=C --golden=G [--atol=1e-5]")


def _load_kind():
    from kind_tf2.pipeline import KinD

    return KinD.from_checkpoint(F.checkpoint_dir, decom=F.decom_checkpoint, restoration=F.restoration_checkpoint,
                                illumination=F.illumination_checkpoint, log=lambda line: print(line, flush=True))


def _golden_job(action):
    from kind_tf2.deploy import golden

    if action == "record":
        for flag in ("input_dir", "out"):
            if not getattr(F, flag):
                raise golden.GoldenError(f"record needs --{flag}")
        return golden.record(_load_kind(), F.input_dir, F.out, ratio=F.ratio, atol=F.atol or golden.DEFAULT_ATOL,
                             warn=error_lines())
    if not F.golden:
        raise golden.GoldenError("check needs --golden (a folder written by `record`)")
    golden.read_manifest(F.golden)  # a missing manifest is reported before the networks load
    return golden.check(_load_kind(), F.golden, atol=F.atol)


def run_golden(argv, prog="kind-tf2 golden", raw=()):
    if len(argv) != 2 or argv[1] not in ("record", "check"):
        print(GOLDEN_USAGE.format(prog=prog), file=sys.stderr)
        return 2
    return exit_status(_golden_job, argv[1])


def define_export():
    from kind_tf2.deploy import export

    flags.network_flags()
    flags.out("./export", "Output folder: saved_model/ and kind.tflite.")
    absl_flags.DEFINE_string("format", ",".join(export.FORMATS), f"Comma list of {', '.join(export.FORMATS)}.")


def _export_job():
    from kind_tf2.deploy import export

    formats = export.parse_formats(F.format)  # before the networks load
    return export.export(_load_kind(), F.out, formats)


def run_export(argv):
    return exit_status(_export_job)


def define_convert():
    absl_flags.DEFINE_string("src", None, "TF1 checkpoint (folder, prefix or original ./checkpoint/ layout), "
                             "or with --to_tf1 a folder of the port's .weights.h5 files.")
    absl_flags.DEFINE_string("dst", None, "Output folder.")
    absl_flags.DEFINE_bool("to_tf1", False, "Convert the port's weights to TF1 checkpoints instead.")
    absl_flags.mark_flags_as_required(["src", "dst"])


def run_convert(argv):
    from kind_tf2 import convert

    return exit_status(convert.tf2_to_tf1 if F.to_tf1 else convert.tf1_to_tf2, F.src, F.dst)


def define_baselines():
    flags.data_dir(None, "LOL layout with eval15/low and eval15/high.")
    absl_flags.DEFINE_string("checkpoint_dir", None, "DecomNet and Illumination_adjust_net (e.g. the released ones).")
    flags.decom_checkpoint(None, "DecomNet; overrides --checkpoint_dir.")
    flags.illumination_checkpoint("Illumination_adjust_net; overrides --checkpoint_dir.")
    flags.out("./results/baselines", "Where the table, grid, metrics and PNGs go.")
    flags.ratio()
    absl_flags.DEFINE_bool("save_images", True, "Write the enhanced PNG of every row and protocol.")
    absl_flags.mark_flag_as_required("data_dir")


def run_baselines(argv):
    from kind_tf2.studies import baselines

    cfg = baselines.BaselinesConfig(
        data_dir=F.data_dir, checkpoint_dir=F.checkpoint_dir, decom_checkpoint=F.decom_checkpoint,
        illumination_checkpoint=F.illumination_checkpoint, out=F.out, ratio=F.ratio, save_images=F.save_images)
    return exit_status(baselines.run, cfg, warn=error_lines())


# ---- quickstart and synthetic data -----------------------------------------------------------------------

def define_quickstart():
    flags.out("./quickstart", "Folder for the data, checkpoints, evaluations and the report.")
    flags.seed("Seed of the data, the initialisation and the patches.")


def run_quickstart(argv):
    from kind_tf2.reproduce import quickstart

    return exit_status(quickstart.quickstart, F.out, F.seed, log=lambda line: print(line, flush=True),
                       flag=reproduce_flag)


def define_synthesize():
    flags.out(None, "Output folder (LOL layout).")
    absl_flags.DEFINE_integer("train", 12, "Pairs in our485/.")
    absl_flags.DEFINE_integer("eval", 3, "Pairs in eval15/.")
    absl_flags.DEFINE_integer("height", 96, "Image height.")
    absl_flags.DEFINE_integer("width", 128, "Image width.")
    flags.seed("Random seed.")
    absl_flags.mark_flag_as_required("out")


def _synthesize_job():
    from kind_tf2.data import synthesize

    synthesize.synthesize(F.out, F.train, F.eval, F.height, F.width, F.seed)
    print(f"wrote {F.train} training and {F.eval} evaluation pairs of {F.height}x{F.width} to {F.out}")


def run_synthesize(argv):
    return exit_status(_synthesize_job)

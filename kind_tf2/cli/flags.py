"""Every command-line flag, defined once here; the commands pick the ones they take (absl flags)."""

import os

from absl import flags

from kind_tf2 import checkpoints, models

LOL_LAYOUT = "LOL layout: our485/ and eval15/, each with low/ and high/."


def data_dir(default="./LOLdataset", help=LOL_LAYOUT):
    flags.DEFINE_string("data_dir", default, help)


def out(default, help):
    flags.DEFINE_string("out", default, help)


def seed(help="Seed of the patch sampling and augmentation; same seed, same run."):
    flags.DEFINE_integer("seed", 0, help)


def ratio(help="Constant ratio of the fixed_ratio and gt_mean protocols."):
    flags.DEFINE_float("ratio", 5.0, help)


def strategy():
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")


def deterministic():
    flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism (slower).")


def vgg_weights(help="Keras VGG19 weights file for the `perceptual` term (never downloaded)."):
    flags.DEFINE_string("vgg_weights", None, help)


def decom_checkpoint(default, help):
    flags.DEFINE_string("decom_checkpoint", default, help)


def illumination_checkpoint(help):
    flags.DEFINE_string("illumination_checkpoint", None, help)


def restoration_checkpoint(help):
    flags.DEFINE_string("restoration_checkpoint", None, help)


def decom_cache(help):
    flags.DEFINE_string("decom_cache", "default", help)


def decom_cache_dir(value):
    """--decom_cache: `default` -> the user cache folder, `none` -> None, else the folder given."""
    from kind_tf2.data import decomposed

    return {"default": decomposed.default_cache_dir(), "none": None}.get(value.lower(), value)


def log_every():
    flags.DEFINE_integer("log_every", 10, "Progress line every N steps.")


def network_flags(checkpoint_dir="./checkpoint"):
    """--checkpoint_dir and the per-network overrides: evaluate, golden, export, baselines."""
    flags.DEFINE_string("checkpoint_dir", checkpoint_dir,
                        "Folder with all three networks: the original layout (decom_net_train/, ...) or the "
                        "port's (decom.weights.h5, ...).")
    decom_checkpoint(None, "DecomNet: a TF1 checkpoint or a training folder; overrides --checkpoint_dir.")
    illumination_checkpoint("Illumination_adjust_net, likewise.")
    restoration_checkpoint("Restoration_net, likewise; 'none': no restoration (R_hat = R), to see what the other "
                           "two networks give alone.")


def tile():
    flags.DEFINE_string("tile", "auto", "Run the networks on tiles of N px (a multiple of 16) with margins wider "
                        "than their receptive fields: the same outputs (within 1e-5) in memory bounded by N. "
                        "auto: 512-px tiles for images above 0.6 megapixels; none: never tile.")


def metrics():
    from kind_tf2.metrics import catalog

    flags.DEFINE_string("metrics", "default", "Comma list of " + ", ".join(catalog.METRICS) + ". default: with "
                        f"--high_dir {','.join(catalog.DEFAULT_PAIRED)}; without, {','.join(catalog.DEFAULT_UNPAIRED)} "
                        "of each output and its input (no-reference: nothing else can be scored).")


# ---- training ------------------------------------------------------------------------------------------

def stage_setting(name, kind, default, help):
    """One overridable stage setting as a flag (`--epochs`, `--restoration_epochs`, ...)."""
    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}[kind]
    define(name, default, help)


def lr_schedule(default, note=""):
    from kind_tf2.training import schedules

    flags.DEFINE_enum("lr_schedule", default, list(schedules.SCHEDULES),
                      "Learning rate per epoch from --learning_rate: original (the original script's) or "
                      "cosine (decay to ~0 at the last epoch, for short runs)." + note)


def mixed_precision(default, note=""):
    flags.DEFINE_enum("mixed_precision", default, ["none", "auto", "bf16", "fp16"],
                      "Compute the network in bfloat16 or float16 with float32 variables (Keras mixed "
                      "precision; fp16 adds loss scaling). Faster on GPUs and CPUs with native bf16 (AVX512_BF16 "
                      "or AMX), several times slower where it is emulated (AVX2-only CPUs); results drift from "
                      "the original's float32 ones. auto: bf16 where native, else float32 (one log line says "
                      "which and why). none: float32, the original." + note)


def preset(note):
    from kind_tf2 import presets

    flags.DEFINE_enum("preset", "original", list(presets.PRESETS), "Named schedule of the three stages: "
                      + "; ".join(f"{p.name}: {p.description}" for p in presets.PRESETS.values()) + note)


def train_flags(stage):
    """The flags of a stage script, with this stage's defaults (the original's hyper-parameters)."""
    from kind_tf2.training import config

    d = stage.defaults
    data_dir()
    flags.DEFINE_string("checkpoint_dir", os.path.join("./checkpoint", checkpoints.TF1_SUBDIR[stage.scope]),
                        "Checkpoints, weights, samples and TensorBoard logs of this stage; resumed if present.")
    if stage.needs_decom:
        decom_cache("Keep the frozen DecomNet's outputs on the training images here, keyed by its weights, the "
                    "image bytes and the TensorFlow runtime, and reuse them in later runs (the same float32 "
                    "values). default: $XDG_CACHE_HOME/kind_tf2/decomposed (~/.cache/...); none: decompose "
                    "every run.")
        decom_checkpoint(f"./checkpoint/{checkpoints.TF1_SUBDIR[models.DECOM_SCOPE]}",
                         "Stage-1 output folder or an original TF1 DecomNet checkpoint (frozen).")
    stage_setting("epochs", int, d["epochs"], "Epochs of len(train) // batch_size steps (>= 1).")
    stage_setting("steps", int, None, "Train this many steps instead of --epochs (the last epoch ends early); the "
                  "learning-rate schedule spans exactly these steps.")
    stage_setting("time_budget", str, None, "Seconds (or 90s, 10m, 2h) for the whole stage: the step time is "
                  "measured on this machine, then --steps set to fit (recorded in <checkpoint_dir>/budget.json "
                  "and reused on resume; --steps=N trains the same run elsewhere).")
    stage_setting("checkpoint_every", float, 0.0, "Seconds between epoch-end checkpoints (0: every epoch); the "
                  "last step and a preemption are always saved, so resuming stays exact.")
    stage_setting("batch_size", int, d["batch_size"], "Global batch size (split over replicas).")
    stage_setting("patch_size", int, d["patch_size"], "Square training patch side.")
    stage_setting("learning_rate", float, d["learning_rate"], "Adam learning rate (base of the schedule).")
    lr_schedule("original")
    seed()
    strategy()
    stage_setting("eval_every", int, d["eval_every"], "Write sample images every N epochs.")
    log_every()
    deterministic()
    mixed_precision("none")
    flags.DEFINE_enum("nan_policy", "stop", list(config.NAN_POLICIES),
                      "A step whose loss or gradients are not finite: stop the run, naming the step (the last "
                      "finite state stays saved), or skip_step: drop that update, count it and go on.")
    flags.DEFINE_bool("export_tf1", True, "Also write the final weights as a TF1 checkpoint in <checkpoint_dir>/tf1.")
    if stage.name == "decomposition":
        flags.DEFINE_string("loss", None, "Re-weight the six decomposition terms, e.g. 'equal_R_loss:0.05,"
                            "i_mutual_loss:0.1'; unnamed terms keep the original weights.")
    else:
        flags.DEFINE_string("loss", None, f"Objective as 'term:weight,...', terms from kind_tf2.losses.TERMS, "
                            f"parameters as 'huber(delta=0.5):1'. Default: the original, '{stage.default_loss}'.")
        vgg_weights()

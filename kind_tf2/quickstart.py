"""Offline quickstart: synthesize LOL-style data, train the three stages briefly, evaluate: `python -m kind_tf2.quickstart`."""

import os
import time

from absl import app, flags, logging

from kind_tf2 import evaluation
from kind_tf2.data import synthesize
from kind_tf2.training import engine, stages

# Short runs that finish in a few minutes on 2 CPU cores; the real defaults are the original's.
QUICK = {
    "decomposition": {"epochs": 100, "batch_size": 4, "patch_size": 48},
    "illumination": {"epochs": 100, "batch_size": 4, "patch_size": 48},
    "restoration": {"epochs": 20, "batch_size": 2, "patch_size": 64},
}


def quickstart(out, seed=0, log=print, schedule=None):
    """Run the whole chain under `out/`; returns evaluate's exit status.

    Writes `out/LOLdataset/` (synthetic pairs), `out/checkpoint/<stage folders>` (the original's
    layout, so `evaluate.py --checkpoint_dir=out/checkpoint` works) and `out/results/` (enhanced
    eval images, metrics.csv / metrics.json, comparison_grid.png). schedule: per-stage overrides
    of `QUICK` (tests use a few steps).
    """
    start = time.time()
    data = os.path.join(out, "LOLdataset")
    ckpt = os.path.join(out, "checkpoint")
    synthesize.synthesize(data, train=12, eval_count=3, height=96, width=128, seed=seed)
    log(f"[quickstart] synthetic LOL data (12 training, 3 evaluation pairs, 96x128) in {data}")
    decom_dir = os.path.join(ckpt, "decom_net_train")
    for name in ("decomposition", "illumination", "restoration"):
        stage = stages.STAGES[name]()
        q = dict(QUICK[name], **(schedule or {}).get(name, {}))
        cfg = engine.TrainConfig(
            data_dir=data, checkpoint_dir=os.path.join(ckpt, engine.checkpoints.TF1_SUBDIR[stage.scope]),
            decom_checkpoint=decom_dir if stage.needs_decom else None, learning_rate=1e-4, seed=seed,
            eval_every=q["epochs"], log_every=1000, **q,
        )
        log(f"[quickstart] training {name}: {q['epochs']} epochs, batch {q['batch_size']}, patch {q['patch_size']}")
        status = engine.run(stage, cfg, log=lambda line: log("  " + line) if "epoch [" not in line else None)
        if status:
            return status
    log(f"[quickstart] evaluating on {data}/eval15 (ratio from the ground truth)")
    cfg = evaluation.EvalConfig(
        input_dir=os.path.join(data, "eval15", "low"), output_dir=os.path.join(out, "results"),
        checkpoint_dir=ckpt, high_dir=os.path.join(data, "eval15", "high"),
    )
    status = evaluation.run(cfg, log=log)
    log(f"[quickstart] finished in {time.time() - start:.0f} s; a few minutes of training on synthetic data "
        "is far from the paper's numbers, which need the real LOL and full training (see README)")
    return status


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)  # keep TF's checkpoint chatter out of the progress lines
    return quickstart(F.out, F.seed, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    flags.DEFINE_string("out", "./quickstart", "Folder for the data, checkpoints and results.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the initialisation and the patches.")
    app.run(main)

"""Offline quickstart: `python -m kind_tf2.quickstart` = `reproduce` on synthetic data, with short settings."""

import os
import time

from absl import app, flags, logging

from kind_tf2 import presets, reproduce
from kind_tf2.data import synthesize

# Short settings that finish in about a minute on 2 CPU cores: the `quickstart` preset (see
# `kind_tf2.presets` for how they were chosen). The training defaults stay the original's.
QUICK = presets.get("quickstart").stages
# Synthetic scenes: 12 training and 3 evaluation pairs of 96x128, darkened as the synthesizer's
# default (gamma 2..4, exposure 0.3..0.7) but with less sensor noise, so that a few minutes of
# training can show the ground truth's colours and structure.
SCENES = {"train": 12, "eval_count": 3, "height": 96, "width": 128}
DARKENING = {"gamma": (2.0, 4.0), "exposure": (0.3, 0.7), "peak": (1500.0, 4000.0), "read_noise": (0.001, 0.003)}


def quickstart(out, seed=0, log=print, schedule=None):
    """Synthesize `out/LOLdataset/`, then `reproduce` into `out/`; returns the exit status.

    Writes `out/checkpoint/<stage folders>` (the original's layout), `out/eval/<protocol>/`
    (enhanced eval images, metrics, comparison_grid.png) and `out/report.md` / `report.html`.
    schedule: per-stage overrides of `QUICK` (tests use a few steps).
    """
    start = time.time()
    data = os.path.join(out, "LOLdataset")
    synthesize.synthesize(data, seed=seed, darkening=DARKENING, **SCENES)
    log(f"[quickstart] synthetic LOL data ({SCENES['train']} training, {SCENES['eval_count']} evaluation pairs, "
        f"{SCENES['height']}x{SCENES['width']}) in {data}")
    overrides = {name: dict(q, **(schedule or {}).get(name, {})) for name, q in QUICK.items()}
    for q in overrides.values():
        q.setdefault("eval_every", q["epochs"])  # sample images (and their TensorBoard copies) at the end
    cfg = reproduce.ReproduceConfig(data_dir=data, out=out, overrides=overrides, seed=seed, log_steps=False,
                                    title="KinD quickstart (synthetic data, short training)")
    status = reproduce.reproduce(cfg, log=log)
    if status == 0:
        log(f"[quickstart] finished in {time.time() - start:.0f} s. Report: {os.path.join(out, 'report.html')} "
            f"(also report.md). A few minutes on synthetic data shows that every piece works; the paper's "
            "numbers need the real LOL and the original schedule (python -m kind_tf2.reproduce, see README)")
    return status


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)  # keep TF's checkpoint chatter out of the progress lines
    return quickstart(F.out, F.seed, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    flags.DEFINE_string("out", "./quickstart", "Folder for the data, checkpoints, evaluations and the report.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the initialisation and the patches.")
    app.run(main)

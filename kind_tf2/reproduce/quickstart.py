"""Offline quickstart: `reproduce` on synthetic data with the short `quickstart` preset (the `quickstart` command)."""

import os
import time

from kind_tf2 import errors, presets
from kind_tf2.data import synthesize
from kind_tf2.metrics import catalog
from kind_tf2.reproduce.plan import ReproduceConfig
from kind_tf2.reproduce.run import reproduce

# Short settings that finish in about a minute on 2 CPU cores: the `quickstart` preset (see
# `kind_tf2.presets` for how they were chosen). The training defaults stay the original's.
QUICK = presets.get("quickstart").stages
# Synthetic scenes: 12 training and 3 evaluation pairs of 96x128, darkened as the synthesizer's
# default (gamma 2..4, exposure 0.3..0.7) but with less sensor noise, so that a few minutes of
# training can show the ground truth's colours and structure.
SCENES = {"train": 12, "eval_count": 3, "height": 96, "width": 128}
DARKENING = {"gamma": (2.0, 4.0), "exposure": (0.3, 0.7), "peak": (1500.0, 4000.0), "read_noise": (0.001, 0.003)}


def quickstart(out, seed=0, log=print, schedule=None):
    """Synthesize `out/LOLdataset/`, then `reproduce` into `out/`; returns reproduce's ReproduceResult.

    Writes `out/checkpoint/<stage folders>` (the original's layout), `out/eval/<protocol>/`
    (enhanced eval images, metrics, comparison_grid.png) and `out/report.md` / `report.html`.
    schedule: per-stage overrides of `QUICK` (tests use a few steps).
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise errors.ConfigError(f"out={out}: exists and is not a folder", fields=("out",))
    start = time.time()
    data = os.path.join(out, "LOLdataset")
    synthesize.synthesize(data, seed=seed, darkening=DARKENING, **SCENES)
    log(f"[quickstart] synthetic LOL data ({SCENES['train']} training, {SCENES['eval_count']} evaluation pairs, "
        f"{SCENES['height']}x{SCENES['width']}) in {data}")
    overrides = {name: dict(q, **(schedule or {}).get(name, {})) for name, q in QUICK.items()}
    for q in overrides.values():
        q.setdefault("eval_every", q["epochs"])  # sample images (and their TensorBoard copies) at the end
    # NIQE needs two 96x96 blocks; the scenes are 96x128: the other metrics only.
    scored = ",".join(n for n in catalog.DEFAULT_PAIRED if n != "niqe")
    cfg = ReproduceConfig(data_dir=data, out=out, preset="quickstart", overrides=overrides, seed=seed,
                          log_steps=False, title="KinD quickstart (synthetic data, short training)", metrics=scored)
    result = reproduce(cfg, log=log)
    log(f"[quickstart] finished in {time.time() - start:.0f} s. Report: {os.path.join(out, 'report.html')} "
        f"(also report.md). A few minutes on synthetic data shows that every piece works; the paper's "
        "numbers need the real LOL and the original schedule (kind-tf2 reproduce, see README)")
    return result

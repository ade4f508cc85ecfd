"""One stage's training step in float32 and bf16, in turns in one process: `python benchmarks/precision_speed.py --stage=restoration --patch_size=192`.

Both trainers are built and warmed up first, then timed round by round in alternation, so that this
shared VM's drift (+-15 % within minutes) falls on both alike; the figures are medians over rounds.
"""

import argparse
import time

import numpy as np

from kind_tf2 import hardware, process

process.import_tensorflow()
import tensorflow as tf  # noqa: E402

from kind_tf2.training import engine, stages  # noqa: E402

# The network inputs of each stage's batch (the stage's `transform` output) and their channels.
INPUTS = {"decomposition": {"low": 3, "high": 3}, "illumination": {"input_i": 1, "ratio": 1, "target_i": 1},
          "restoration": {"low_r": 3, "low_i": 1, "high_r": 3}}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="restoration", choices=list(INPUTS))
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--patch_size", type=int, default=192)
    parser.add_argument("--precisions", default="none,bf16", help="comma list of none, bf16, fp16")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    args = parser.parse_args()
    print(hardware.describe(), flush=True)
    stage = stages.STAGES[args.stage]()
    rng = np.random.default_rng(0)
    batch = {k: tf.constant(rng.random((args.batch_size, args.patch_size, args.patch_size, c), dtype=np.float32))
             for k, c in INPUTS[args.stage].items()}
    trainers = {}
    for name in args.precisions.split(","):
        cfg = engine.TrainConfig(batch_size=args.batch_size, patch_size=args.patch_size,
                                 mixed_precision=None if name == "none" else name)
        trainers[name] = engine.Trainer(stage, cfg, log=lambda line: None)
        for _ in range(2):  # trace, then one steady step
            float(trainers[name].train_step(batch)[stage.total_name])
    times = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                out = trainer.train_step(batch)
            float(out[stage.total_name])
            times[name].append((time.perf_counter() - start) / args.steps)
    for name, t in times.items():
        print(f"{args.stage} {args.batch_size} x {args.patch_size}² {'fp32' if name == 'none' else name}: "
              f"{np.median(t):.3f} s/step (median of {len(t)} rounds of {args.steps}: "
              f"{', '.join(f'{x:.3f}' for x in t)})")
    names = list(times)
    for name in names[1:]:
        print(f"{names[0]} / {name}: {np.median(times[names[0]]) / np.median(times[name]):.2f}x")


if __name__ == "__main__":
    main()

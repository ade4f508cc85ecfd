"""Seconds per training step of each stage at the original batch and patch sizes: `python benchmarks/train_speed.py`."""

import argparse
import time

import numpy as np
import tensorflow as tf

from kind_tf2.training import engine, stages

# The original code's figures on the 2-core development machine (issue 3), s/step.
ORIGINAL = {"decomposition": 0.134, "illumination": 0.029, "restoration": 4.35}


def random_batch(stage, batch, patch, rng):
    shape = lambda c: rng.random((batch, patch, patch, c), dtype=np.float32)
    if stage.name == "decomposition":
        return {"low": shape(3) * 0.2, "high": shape(3)}
    if stage.name == "illumination":
        return {"input_i": shape(1), "ratio": np.full((batch, patch, patch, 1), 3.0, np.float32), "target_i": shape(1)}
    return {"low_r": shape(3), "low_i": shape(1), "high_r": shape(3)}


def measure(stage, steps, warmup, jit):
    d = stage.defaults
    cfg = engine.TrainConfig(batch_size=d["batch_size"], patch_size=d["patch_size"], jit_compile=jit)
    trainer = engine.Trainer(stage, cfg)
    batch = {k: tf.constant(v) for k, v in random_batch(stage, d["batch_size"], d["patch_size"], np.random.default_rng(0)).items()}
    for _ in range(warmup):
        trainer.train_step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        out = trainer.train_step(batch)
    float(list(out.values())[-1])  # wait for the last step
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stages", default="decomposition,illumination,restoration")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (restoration: a fifth of it)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the train step")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, devices: {[d.name for d in tf.config.list_logical_devices()]}, "
          f"jit_compile={args.jit_compile}")
    print(f"{'stage':<14}{'batch x patch':>15}{'s/step':>10}{'original':>10}{'speed-up':>10}")
    for name in args.stages.split(","):
        stage = stages.STAGES[name]()
        steps = max(2, args.steps // 5) if name == "restoration" else args.steps
        sec = measure(stage, steps, args.warmup, args.jit_compile)
        d = stage.defaults
        print(f"{name:<14}{d['batch_size']:>7} x {d['patch_size']:<5}{sec:>10.4f}{ORIGINAL[name]:>10.3f}"
              f"{ORIGINAL[name] / sec:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()

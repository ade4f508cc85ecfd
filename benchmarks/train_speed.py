"""Seconds per training step of each stage at the original batch and patch sizes: `python benchmarks/train_speed.py`.

On a GPU machine, `--mixed_precision=none,bf16,fp16 --strategy=default,mirrored` times every
precision and strategy in one process (mirrored: all local GPUs, the batch per replica kept, so
the global batch grows with the GPU count), and `--check_device` first compares the GPU's losses
with the CPU's on the same weights and batch.

Besides s/step it prints the network's forward and backward pass alone ("net only": the same
kernels the original runs, so the practical floor of a step), its forward FLOPs (TF's graph profiler on the traced forward
pass), the FLOP rate a step reaches counting a step as 3x the forward (forward, input and weight
gradients), and the fastest a step could be at this machine's measured fp32 matmul rate. The
comparison with the original code is `side_by_side.py`, which runs both in turns.
"""

import argparse
import time

import numpy as np
import tensorflow as tf
from tensorflow import keras

from kind_tf2 import hardware, models
from kind_tf2.training import engine, stages

# Input channels of each stage's network and its forward passes per step (DecomNet: low and high).
NETWORK_INPUTS = {"decomposition": ((3,), 2), "illumination": ((1, 1), 1), "restoration": ((3, 1), 1)}


def random_batch(stage, batch, patch, rng):
    def shape(c):
        return rng.random((batch, patch, patch, c), dtype=np.float32)

    if stage.name == "decomposition":
        return {"low": shape(3) * 0.2, "high": shape(3)}
    if stage.name == "illumination":
        return {"input_i": shape(1), "ratio": np.full((batch, patch, patch, 1), 3.0, np.float32), "target_i": shape(1)}
    return {"low_r": shape(3), "low_i": shape(1), "high_r": shape(3)}


def matmul_gflops(n=2048, reps=10):
    """Measured fp32 GFLOP/s of a large matmul: the practical compute ceiling of this machine."""
    a = tf.random.normal([n, n])
    f = tf.function(tf.linalg.matmul)
    f(a, a).numpy()
    start = time.perf_counter()
    for _ in range(reps):
        out = f(a, a)
    out.numpy()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def forward_flops(stage, batch, patch):
    """Float operations of the stage network's forward pass (per global batch)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    model = models.build_network(stage.scope)
    channels, passes = NETWORK_INPUTS[stage.name]
    inputs = [tf.TensorSpec([batch, patch, patch, c]) for c in channels]
    graph = tf.function(model).get_concrete_function(*inputs).graph
    opts = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    opts = opts.with_empty_output().build()
    forward = model_analyzer.profile(graph, options=opts).total_float_ops
    return forward * passes


def network_pass(model, backward=True):
    """A compiled pass of `model` alone: its weight gradients of the sum of its outputs' means, or
    (backward=False) its outputs in inference mode. No loss terms, no optimizer."""
    if not backward:
        return tf.function(lambda *x: model(*x, training=False), autograph=False)

    @tf.function(autograph=False)
    def forward_backward(*x):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(o) for o in tf.nest.flatten(model(*x, training=True))])
        return tape.gradient(loss, model.trainable_variables)

    return forward_backward


def network_only(stage, steps, warmup, rounds, precision=None):
    """Median s of the stage network's forward and backward pass alone (no loss terms, no optimizer).

    These are the kernels the original runs too: a step cannot be much faster than this in fp32.
    """
    d = stage.defaults
    model = engine.build_in_policy(stage.scope, engine.MIXED_PRECISION[precision])
    channels, passes = NETWORK_INPUTS[stage.name]
    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.random((d["batch_size"] * passes, d["patch_size"], d["patch_size"], c), dtype=np.float32))
              for c in channels]

    forward_backward = network_pass(model)
    for _ in range(warmup):
        forward_backward(*inputs)
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            grads = forward_backward(*inputs)
        grads[0].numpy()
        per_round.append((time.perf_counter() - start) / steps)
    return float(np.median(per_round))


def device_check(stage):
    """Largest relative difference between the stage loss's parts computed on the first GPU and on
    the CPU, same weights and batch, float32 (TF32 off): catches a broken GPU library, not rounding."""
    d = stage.defaults
    keras.utils.set_random_seed(0)
    trainer = engine.Trainer(stage, engine.TrainConfig(batch_size=d["batch_size"], patch_size=d["patch_size"]))
    batch = random_batch(stage, d["batch_size"], d["patch_size"], np.random.default_rng(0))
    parts = {}
    for device in ("/GPU:0", "/CPU:0"):
        with tf.device(device):
            _, out = stage.loss(trainer.model, {k: tf.constant(v) for k, v in batch.items()}, trainer.objective)
            parts[device] = {k: float(v) for k, v in out.items()}
    return max(abs(parts["/GPU:0"][k] - parts["/CPU:0"][k]) / max(abs(parts["/CPU:0"][k]), 1e-12)
               for k in parts["/CPU:0"])


def measure(stage, steps, warmup, jit, rounds, precision=None, strategy=None):
    d = stage.defaults
    strategy = strategy or tf.distribute.get_strategy()
    # The batch per replica stays the original's: each replica gets the whole batch below.
    cfg = engine.TrainConfig(batch_size=d["batch_size"] * strategy.num_replicas_in_sync,
                             patch_size=d["patch_size"], jit_compile=jit, mixed_precision=precision)
    trainer = engine.Trainer(stage, cfg, strategy=strategy)
    batch = {k: tf.constant(v) for k, v in random_batch(stage, d["batch_size"], d["patch_size"], np.random.default_rng(0)).items()}
    for _ in range(warmup):
        trainer.train_step(batch)
    # Rounds of steps: this shared 2-core VM's speed drifts by +-15 % over minutes, so the
    # median round is the figure and the best round shows the machine at its quietest.
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            out = trainer.train_step(batch)
        float(list(out.values())[-1])  # wait for the last step
        per_round.append((time.perf_counter() - start) / steps)
    return float(np.median(per_round)), min(per_round)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stages", default="decomposition,illumination,restoration")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round (restoration: a tenth)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; s/step is the median round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--mixed_precision", default="none", help="comma list of none, bf16, fp16")
    parser.add_argument("--strategy", default="default", help="comma list of default, mirrored")
    parser.add_argument("--tf32", action="store_true",
                        help="leave TensorFloat-32 on (TF's GPU default); off by default, so fp32 is fp32")
    parser.add_argument("--check_device", action="store_true", help="compare GPU and CPU losses first")
    parser.add_argument("--no_floor", action="store_true", help="skip the FLOP count and matmul ceiling")
    args = parser.parse_args()
    tf.config.experimental.enable_tensor_float_32_execution(args.tf32)
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    print(hardware.describe(), flush=True)
    print(f"TensorFlow {tf.__version__}, GPUs: {names or 'none'}, jit_compile={args.jit_compile}, "
          f"tf32={args.tf32 if gpus else 'n/a'}", flush=True)
    if args.check_device:
        if not gpus:
            raise SystemExit("--check_device: TensorFlow sees no GPU")
        for name in args.stages.split(","):
            print(f"GPU vs CPU loss, {name}: largest relative difference "
                  f"{device_check(stages.STAGES[name]()):.2e}", flush=True)
    peak = None if args.no_floor else matmul_gflops()
    if peak:
        print(f"fp32 matmul: {peak:.0f} GFLOP/s on this machine")
    strategies = {name: engine.create_strategy(name) for name in args.strategy.split(",")}
    print(f"{'stage':<14}{'precision':>10}{'strategy':>10}{'GPUs':>5}{'batch x patch':>15}{'s/step':>10}{'best':>9}"
          f"{'net only':>10}{'fwd GFLOP':>11}{'GFLOP/s':>9}{'floor s':>9}")
    for name in args.stages.split(","):
        stage = stages.STAGES[name]()
        steps = max(1, args.steps // 10) if name == "restoration" else args.steps
        d = stage.defaults
        step_gflop = None if args.no_floor else 3 * forward_flops(stage, d["batch_size"], d["patch_size"]) / 1e9
        for precision in args.mixed_precision.split(","):
            precision = None if precision == "none" else precision
            net = network_only(stage, steps, args.warmup, args.rounds, precision)
            for sname, strategy in strategies.items():
                replicas = strategy.num_replicas_in_sync
                sec, best = measure(stage, steps, args.warmup, args.jit_compile, args.rounds, precision, strategy)
                flops = (f"{step_gflop / 3:>11.2f}{step_gflop * replicas / sec:>9.0f}{step_gflop / peak:>9.4f}"
                         if step_gflop else "")
                print(f"{name:<14}{precision or 'fp32':>10}{sname:>10}{replicas:>5}"
                      f"{d['batch_size'] * replicas:>7} x {d['patch_size']:<5}{sec:>10.4f}{best:>9.4f}{net:>10.4f}"
                      + flops, flush=True)


if __name__ == "__main__":
    main()

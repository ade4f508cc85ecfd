"""Seconds per training step of each stage at the original batch and patch sizes: `python benchmarks/train_speed.py`.

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

from kind_tf2.training import engine, stages

# Input channels of each stage's network and its forward passes per step (DecomNet: low and high).
NETWORK_INPUTS = {"decomposition": ((3,), 2), "illumination": ((1, 1), 1), "restoration": ((3, 1), 1)}


def random_batch(stage, batch, patch, rng):
    shape = lambda c: rng.random((batch, patch, patch, c), dtype=np.float32)
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

    model = engine.models.build_network(stage.scope)
    channels, passes = NETWORK_INPUTS[stage.name]
    inputs = [tf.TensorSpec([batch, patch, patch, c]) for c in channels]
    graph = tf.function(model).get_concrete_function(*inputs).graph
    opts = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    opts = opts.with_empty_output().build()
    forward = model_analyzer.profile(graph, options=opts).total_float_ops
    return forward * passes


def network_only(stage, steps, warmup, rounds):
    """Median s of the stage network's forward and backward pass alone (no loss terms, no optimizer).

    These are the kernels the original runs too: a step cannot be much faster than this in fp32.
    """
    d = stage.defaults
    model = engine.models.build_network(stage.scope)
    channels, passes = NETWORK_INPUTS[stage.name]
    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.random((d["batch_size"] * passes, d["patch_size"], d["patch_size"], c), dtype=np.float32))
              for c in channels]

    @tf.function(autograph=False)
    def forward_backward(*x):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(o) for o in tf.nest.flatten(model(*x, training=True))])
        return tape.gradient(loss, model.trainable_variables)

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


def measure(stage, steps, warmup, jit, rounds):
    d = stage.defaults
    cfg = engine.TrainConfig(batch_size=d["batch_size"], patch_size=d["patch_size"], jit_compile=jit)
    trainer = engine.Trainer(stage, cfg)
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
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, devices: {[d.name for d in tf.config.list_logical_devices()]}, "
          f"jit_compile={args.jit_compile}")
    peak = matmul_gflops()
    print(f"fp32 matmul: {peak:.0f} GFLOP/s on this machine")
    print(f"{'stage':<14}{'batch x patch':>15}{'s/step':>10}{'best':>9}"
          f"{'net only':>10}{'fwd GFLOP':>11}{'GFLOP/s':>9}{'floor s':>9}")
    for name in args.stages.split(","):
        stage = stages.STAGES[name]()
        steps = max(1, args.steps // 10) if name == "restoration" else args.steps
        sec, best = measure(stage, steps, args.warmup, args.jit_compile, args.rounds)
        net = network_only(stage, steps, args.warmup, args.rounds)
        d = stage.defaults
        step_gflop = 3 * forward_flops(stage, d["batch_size"], d["patch_size"]) / 1e9
        print(f"{name:<14}{d['batch_size']:>7} x {d['patch_size']:<5}{sec:>10.4f}{best:>9.4f}{net:>10.4f}"
              f"{step_gflop / 3:>11.2f}{step_gflop / sec:>9.0f}"
              f"{step_gflop / peak:>9.4f}", flush=True)


if __name__ == "__main__":
    main()

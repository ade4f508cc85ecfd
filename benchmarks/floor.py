"""Each stage network's forward and backward pass alone, the original's and the port's in turns: `python benchmarks/floor.py --help`.

A training step cannot be faster than its network's forward and backward pass, and in float32 both
implementations run the same TensorFlow kernels there. This measures that floor for each, at the
training sizes (DecomNet: batch 10 of 48x48, twice per step, low and high; Illumination_adjust_net:
10 of 48x48; Restoration_net: 4 of 384x384), on the same random inputs and random weights, as
whole processes alternating A B A B ...: the original's network from its own `model.py` in a TF1
graph (`tf.gradients` of the mean of its outputs), the port's Keras model under `tf.function`
(`GradientTape`, the same scalar). Row `decom_inference` is DecomNet's forward pass alone on one
600x400 image: what stages 2 and 3 run on every training image before their first step, and
evaluate.py on every input. Medians of the processes' medians, headed by the machine (CPU, oneDNN,
GPUs: `kind_tf2.hardware`). `side_by_side.py` gives the whole
steps and runs; they can differ from this by what the rest costs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# (the original's function in model.py, input channels, images per pass, height, width, backward too)
NETWORKS = {
    "decomposition": ("DecomNet_simple", (3,), 2 * 10, 48, 48, True),
    "illumination": ("Illumination_adjust_net", (1, 1), 10, 48, 48, True),
    "restoration": ("Restoration_net", (3, 1), 4, 384, 384, True),
    "decom_inference": ("DecomNet_simple", (3,), 1, 400, 600, False),
}
PORT_SCOPE = {"DecomNet_simple": "DecomNet", "Illumination_adjust_net": "Illumination_adjust_net",
              "Restoration_net": "Restoration_net"}


def _inputs(stage):
    import numpy as np

    _, channels, images, height, width, _ = NETWORKS[stage]
    rng = np.random.default_rng(0)
    return [rng.random((images, height, width, c), dtype=np.float32) for c in channels]


def _timed(run_once, warmup, steps):
    for _ in range(warmup):
        run_once()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_original(stage, warmup, steps):
    """Runs in the original's folder with its Python: its network, TF1 graph, `tf.gradients`."""
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    sys.path.insert(0, os.getcwd())
    import model  # the original's model.py

    arrays = _inputs(stage)
    placeholders = [tf.placeholder(tf.float32, [None, None, None, a.shape[-1]]) for a in arrays]
    outputs = getattr(model, NETWORKS[stage][0])(*placeholders)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    loss = tf.add_n([tf.reduce_mean(o) for o in outputs])
    fetch = tf.gradients(loss, tf.trainable_variables()) if NETWORKS[stage][-1] else outputs
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    feed = dict(zip(placeholders, arrays))
    return _timed(lambda: sess.run(fetch, feed), warmup, steps)


def child_port(stage, warmup, steps):
    """The port's Keras network under `tf.function`, gradients by `GradientTape`."""
    sys.path.insert(0, ROOT)
    from kind_tf2 import process

    process.import_tensorflow()
    import tensorflow as tf
    import train_speed  # beside this file, on the path as the script's folder

    from kind_tf2 import models

    net = models.build_network(PORT_SCOPE[NETWORKS[stage][0]])
    arrays = [tf.constant(a) for a in _inputs(stage)]
    fn = train_speed.network_pass(net, backward=NETWORKS[stage][-1])
    # Fetched as the original's session fetches its outputs: to host memory.
    return _timed(lambda: [t.numpy() for t in tf.nest.flatten(fn(*arrays))], warmup, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", help="checkout of github zhangyhuaee/KinD (its model.py)")
    parser.add_argument("--original_python", help="python of a venv with tensorflow-cpu==2.21.0 tf_slim")
    parser.add_argument("--stages", default=",".join(NETWORKS))
    parser.add_argument("--repeats", type=int, default=3, help="processes of each implementation")
    parser.add_argument("--steps", type=int, default=10, help="timed passes per process (restoration: a third)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", choices=("original", "port"), help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_original if args.child == "original" else child_port
        print(json.dumps({"seconds": fn(args.stage, args.warmup, args.steps)}), flush=True)
        return
    if not (args.original and args.original_python):
        parser.error("--original and --original_python are required")
    if not os.path.isfile(os.path.join(args.original, "model.py")):
        parser.error(f"--original={args.original} has no model.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    import side_by_side  # beside this file: the machine line, asked of a child with the children's environment

    machine = side_by_side.machine_line(env)
    print(machine, flush=True)
    results = {}
    for stage in args.stages.split(","):
        if stage not in NETWORKS:
            parser.error(f"--stages: unknown {stage!r} (expected {', '.join(NETWORKS)})")
        steps = max(2, args.steps // 3) if stage == "restoration" else args.steps
        times = {"original": [], "port": []}
        for k in range(args.repeats):
            for who in ("original", "port"):
                python = args.original_python if who == "original" else sys.executable
                cmd = [python, os.path.abspath(__file__), f"--child={who}", f"--stage={stage}",
                       f"--steps={steps}", f"--warmup={args.warmup}"]
                cwd = os.path.abspath(args.original) if who == "original" else ROOT
                proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode or not lines:
                    raise SystemExit(f"error: {' '.join(cmd)} (in {cwd}) exited with {proc.returncode}:\n"
                                     f"{proc.stderr[-2000:]}")
                times[who].append(json.loads(lines[-1])["seconds"])
                print(f"  {stage:<13} {who:<9} run {k + 1}: {times[who][-1] * 1000:.1f} ms", flush=True)
        orig, port = (statistics.median(times[w]) for w in ("original", "port"))
        results[stage] = {"original_s": orig, "port_s": port, "runs": times}
    print(f"\n{machine}")
    print(f"{'network of':<14}{'original ms':>13}{'port ms':>10}{'original / port':>17}")
    for stage, r in results.items():
        print(f"{stage:<14}{r['original_s'] * 1000:>13.1f}{r['port_s'] * 1000:>10.1f}"
              f"{r['original_s'] / r['port_s']:>16.2f}x")
    print("(the network alone, float32: forward and backward pass, forward only for decom_inference; "
          "medians of the processes' medians)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, **results}, f, indent=1)


if __name__ == "__main__":
    main()

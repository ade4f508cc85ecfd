"""Seconds per 600x400 image of NIQE, BRISQUE and CIEDE2000 on one core, next to KinD's enhancement of it: `python benchmarks/nr_metrics.py --help`.

python benchmarks/nr_metrics.py --image=<LOL>/eval15/low/1.png --checkpoint_dir=../shared/kind_reference/checkpoints

The metrics run in this process with one BLAS / OpenMP thread (set before numpy loads), in turns with the
enhancement (evaluate.py's fixed_ratio chain, TensorFlow on its default threads) so that both see the same
machine load; the table gives the median of `--repeats` rounds and each metric's cost as a fraction of the
enhancement: what decides whether a metric belongs in evaluate.py's default set.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core for the metrics; must precede numpy's import

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def _seconds(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", required=True, help="An RGB image, e.g. a 600x400 LOL eval15 low image.")
    p.add_argument("--checkpoint_dir", required=True, help="KinD's three networks (the original layout).")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()

    from kind_tf2 import hardware, image_io, image_ops, metrics, process

    process.import_tensorflow()
    from kind_tf2.pipeline import KinD

    print(hardware.describe(), flush=True)

    img = np.asarray(Image.open(a.image).convert("RGB"))
    kind = KinD.from_checkpoint(a.checkpoint_dir)
    x = image_ops.stretch(image_io.read_rgb(a.image)).numpy()[None]

    def enhance():
        return image_ops.to_uint8(kind.enhance(x, ratio=5.0)[0]).numpy()

    out = enhance()  # traces the networks; not timed
    metrics.niqe(img), metrics.brisque(img)  # builds the lookup tables; not timed
    jobs = {"enhance (KinD, fixed_ratio)": (enhance,), "niqe": (metrics.niqe, out), "brisque": (metrics.brisque, out),
            "ciede2000": (metrics.ciede2000, out, img)}
    times = {k: [] for k in jobs}
    for _ in range(a.repeats):
        for k, (fn, *args) in jobs.items():
            times[k].append(_seconds(fn, *args))
    base = statistics.median(times["enhance (KinD, fixed_ratio)"])
    print(f"{img.shape[1]}x{img.shape[0]} image, median of {a.repeats} rounds, metrics on one core")
    print(f"{'job':<30}{'seconds':>9}{'of enhance':>12}")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"{k:<30}{m:>9.4f}{m / base:>11.1%}")
    both = statistics.median(times["niqe"]) + statistics.median(times["brisque"])
    print(f"{'niqe + brisque':<30}{both:>9.4f}{both / base:>11.1%}")


if __name__ == "__main__":
    main()

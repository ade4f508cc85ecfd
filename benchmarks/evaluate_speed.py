"""Wall time of `evaluate.py` per 600x400 image, start-up included: `python benchmarks/evaluate_speed.py`.

Runs the whole command on 6 LOL-sized images (1.png and 22.png of the reference set, each also
flipped left-right and up-down) with the reference checkpoints, as the issue's figure for the
original was taken, and prints seconds per image against the original's 1.27 s.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ORIGINAL_S_PER_IMAGE = 1.27  # the original evaluate.py on this 2-core machine (issue 4)
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", default=os.path.join(HERE, "..", "..", "shared", "kind_reference"))
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported")
    args = parser.parse_args()
    ref = os.path.abspath(args.reference)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "in")
        os.makedirs(inputs)
        for stem in ("1", "22"):
            img = np.asarray(Image.open(os.path.join(ref, "images", f"{stem}.png")).convert("RGB"))
            for tag, arr in (("", img), ("_lr", img[:, ::-1]), ("_ud", img[::-1])):
                Image.fromarray(np.ascontiguousarray(arr)).save(os.path.join(inputs, f"{stem}{tag}.png"))
        cmd = [sys.executable, os.path.join(HERE, "..", "evaluate.py"), f"--input_dir={inputs}",
               f"--output_dir={os.path.join(tmp, 'out')}", f"--checkpoint_dir={os.path.join(ref, 'checkpoints')}",
               "--nogrid"]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) / 6)
    sec = float(np.median(times))
    print(f"evaluate.py, 6 images of 600x400, start-up included: {sec:.3f} s/image (median of "
          f"{args.repeats}; best {min(times):.3f}); original {ORIGINAL_S_PER_IMAGE} s/image: "
          f"{ORIGINAL_S_PER_IMAGE / sec:.2f}x")


if __name__ == "__main__":
    main()

"""How much of a run's PSNR gap is brightness: per image, output/ground-truth mean and the PSNR after one gain.

python scripts/brightness.py --run=runs/released_restoration --data_dir=<full LOL> > docs/real_lol/brightness_<run>.md

Reads the PNGs a `reproduce` run wrote (eval/gt_ratio, eval_no_restoration/gt_ratio and, with --validation,
eval/validation_gt_ratio) and the ground truth. For each image: PSNR as scored; the ratio of the mean grey
level of the output to the ground truth's; the least-squares gain g = <out, gt> / <out, out> and the PSNR of
clip(g * out) (what the output would score with its brightness right and everything else unchanged).
"""

import argparse
import os

import numpy as np
from PIL import Image


def psnr(a, b):
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def rows(out_dir, gt_dir, nr_dir=None):
    found = []
    for f in sorted(os.listdir(out_dir)):
        if not f.endswith("_kindle.png"):
            continue
        name = f[: -len("_kindle.png")] + ".png"
        out = np.asarray(Image.open(os.path.join(out_dir, f)).convert("RGB"), np.float64)
        gt = np.asarray(Image.open(os.path.join(gt_dir, name)).convert("RGB"), np.float64)
        gain = float((out * gt).sum() / (out * out).sum())
        row = {"image": name, "psnr": psnr(out, gt), "mean_ratio": out.mean() / gt.mean(), "gain": gain,
               "psnr_after_gain": psnr(np.clip(out * gain, 0, 255), gt)}
        if nr_dir:
            nr = np.asarray(Image.open(os.path.join(nr_dir, f)).convert("RGB"), np.float64)
            row["psnr_no_restoration"] = psnr(nr, gt)
        found.append(row)
    return found


RATIOS = ("mean_ratio", "gain")  # printed with 3 decimals, the PSNRs with 2


def table(title, found):
    cols = [c for c in ("psnr", "psnr_no_restoration", "mean_ratio", "gain", "psnr_after_gain") if c in found[0]]
    head = {"psnr": "PSNR dB", "psnr_no_restoration": "no restoration", "mean_ratio": "mean out / gt",
            "gain": "LS gain", "psnr_after_gain": "PSNR after gain"}
    lines = [f"### {title}", "", "| image | " + " | ".join(head[c] for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for r in found:
        lines.append(f"| {r['image']} | " + " | ".join(f"{r[c]:.3f}" if c in RATIOS else f"{r[c]:.2f}"
                                                    for c in cols) + " |")
    mean = {c: float(np.mean([r[c] for r in found])) for c in cols}
    lines.append(f"| **mean ({len(found)})** | " + " | ".join(f"**{mean[c]:.3f}**" if c in RATIOS
                                                               else f"**{mean[c]:.2f}**" for c in cols) + " |")
    off = sum(abs(r["mean_ratio"] - 1) > 0.2 for r in found)
    lines += ["", f"{off} of {len(found)} images are more than 20 % too bright or too dark; one gain per image "
              f"moves the mean PSNR from {mean['psnr']:.2f} to {mean['psnr_after_gain']:.2f} dB.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data_dir", required=True)
    a = p.parse_args()
    print(f"# Brightness of `{os.path.basename(os.path.normpath(a.run))}`\n")
    print("```\npython scripts/brightness.py --run=" + a.run + " --data_dir=" + a.data_dir + "\n```\n")
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    print(table("eval15, gt_ratio", rows(os.path.join(a.run, "eval", "gt_ratio"),
                                        os.path.join(a.data_dir, "eval15", "high"),
                                        os.path.join(a.run, "eval_no_restoration", "gt_ratio"))))
    val = os.path.join(a.run, "eval", "validation_gt_ratio")
    if os.path.isdir(val):
        print(table("validation split (our485 466..484), gt_ratio",
                    rows(val, os.path.join(a.run, "validation_split", "high"),
                         os.path.join(a.run, "eval_no_restoration", "validation_gt_ratio"))))


if __name__ == "__main__":
    main()

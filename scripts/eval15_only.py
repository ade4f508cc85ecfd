"""The study's end-to-end scores on eval15 alone: `python scripts/eval15_only.py docs/loss_study/lab/results.json`."""

import json
import os
import sys

import numpy as np

from kind_tf2.studies import stats


def main(path):
    doc = json.load(open(path))
    eval15 = sorted(os.listdir(os.path.join(doc["data_dir"], "eval15", "low"))) if os.path.isdir(doc["data_dir"]) \
        else None
    variants = doc["variants"]
    names = [row["image"] for row in variants[0]["runs"][0]["per_image"]]
    keep = [k for k, n in enumerate(names) if eval15 is None or n in eval15][-15:]  # eval15 comes last
    cells = {v["variant"]: {m: np.array([[run["per_image"][k][m] for k in keep] for run in v["runs"]])
                            for m in ("e2e_psnr", "e2e_ssim")} for v in variants}
    ref = next(v["variant"] for v in variants if v["default"])
    print(f"eval15 only ({len(keep)} images x {len(variants[0]['runs'])} seeds), end to end (gt_ratio); "
          "difference to the default paired by seed and image, 95 % bootstrap CI, p Holm-corrected over the variants\n")
    print("| variant | e2e PSNR | vs ★ [95 % CI] (p Holm) | e2e SSIM | vs ★ [95 % CI] (p Holm) |")
    print("|---|---|---|---|---|")
    others = [v["variant"] for v in variants if v["variant"] != ref]
    diffs = {m: {o: stats.paired_difference(cells[o][m], cells[ref][m]) for o in others} for m in ("e2e_psnr", "e2e_ssim")}
    holm = {m: dict(zip(others, stats.holm([diffs[m][o].p_value for o in others]))) for m in diffs}
    for v in [ref] + others:
        row = [f"★ `{v}`" if v == ref else f"`{v}`"]
        for m, fmt in (("e2e_psnr", "{:+.3f}"), ("e2e_ssim", "{:+.4f}")):
            row.append(f"{cells[v][m].mean():.{3 if m == 'e2e_psnr' else 4}f}")
            if v == ref:
                row.append("")
            else:
                d = diffs[m][v]
                row.append(f"{fmt.format(d.mean)} [{fmt.format(d.low)}, {fmt.format(d.high)}] ({holm[m][v]:.3f})")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])

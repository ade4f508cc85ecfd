"""The laboratory's uncertainty: per variant, CIs over images and seeds, and paired differences to the default (Holm)."""

import numpy as np

from kind_tf2.studies import stats
from kind_tf2.studies.lab.config import LAB_METRICS


def summarize(per_variant, margins, level=0.05):
    """One dict per variant from its runs (one result dict per seed, as `run_variant` wrote them).

    The first seed's settings; each metric of LAB_METRICS averaged over the seeds' means; `runs`, the
    per-seed results; `ci` {metric: {mean, low, high}}: the 95 % bootstrap interval over images and
    seeds (`stats.confidence_interval`); `vs_default` {metric: {mean, low, high, p, p_holm, verdict}}:
    the paired difference to the ★ default over the same (seed, image) cells, Holm-corrected over the
    variants per metric, and its verdict at `level` with the metric's practical margin.
    """

    names = [m for m in LAB_METRICS if m in per_variant[0][0]]
    out, cells = [], {}
    for i, runs in enumerate(per_variant):
        r = {k: v for k, v in runs[0].items() if k != "per_image"}
        r.update(final_loss=float(np.mean([x["final_loss"] for x in runs])),
                 train_seconds=round(sum(x["train_seconds"] for x in runs), 1), seeds=[x["seed"] for x in runs],
                 runs=runs, ci={})
        for m in names:
            r[m] = float(np.mean([x[m] for x in runs]))
            mat = np.array([[row[m] for row in x["per_image"]] for x in runs], np.float64)  # [seeds, images]
            cells[i, m] = mat
            ok = np.isfinite(mat).all(axis=0)  # SSIM is NaN on images under 11 px
            if ok.any():
                ci = stats.confidence_interval(mat[:, ok])
                r["ci"][m] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
        out.append(r)
    ref = next((i for i, r in enumerate(out) if r["default"]), None)
    if ref is None:
        return out
    for m in names:
        diffs = {}
        for i in range(len(out)):
            a, b = cells[i, m], cells[ref, m]
            ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
            if i != ref and ok.any():
                diffs[i] = stats.paired_difference(a[:, ok], b[:, ok])
        for (i, d), p_holm in zip(diffs.items(), stats.holm([d.p_value for d in diffs.values()])):
            out[i].setdefault("vs_default", {})[m] = {
                "mean": d.mean, "low": d.low, "high": d.high, "p": d.p_value, "p_holm": float(p_holm),
                "verdict": stats.verdict(d, p_holm, margins.get(m), LAB_METRICS[m], level)}
    return out

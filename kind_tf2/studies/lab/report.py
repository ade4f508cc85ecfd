"""The laboratory's reports: results.csv / .json / .md (tables through `reporting.tables`), then its plots."""

import os

from kind_tf2.files import atomic_write_text
from kind_tf2.reporting import tables
from kind_tf2.studies.lab import plots
from kind_tf2.studies.lab.config import LAB_METRICS, REGISTERED, decimals, parse_margins


def _columns(results):
    return (["variant", "default"] + [m for m in LAB_METRICS if any(m in r for r in results)]
            + ["final_loss", "steps", "train_seconds", "spec"])


def _csv_row(r, cols):
    """A results.csv row: the columns, then the CIs and the difference to the default of every metric."""
    row = [r.get(c, "") for c in cols] + [len(r.get("seeds", [1]))]
    for m in LAB_METRICS:
        ci, d = r.get("ci", {}).get(m), r.get("vs_default", {}).get(m)
        row += [ci["low"], ci["high"]] if ci else ["", ""]
        row += [d["mean"], d["low"], d["high"], d["p_holm"], d["verdict"]] if d else ["", "", "", "", ""]
    return row


def _csv_header(cols):
    extra = ["n_seeds"]
    for m in LAB_METRICS:
        extra += [f"{m}_low", f"{m}_high", f"{m}_diff", f"{m}_diff_low", f"{m}_diff_high", f"{m}_p_holm",
                  f"{m}_verdict"]
    return cols + extra


def _label(r):
    return ("★ " if r["default"] else "") + f"`{r['variant']}`"


def results_table(results, order):
    """The main table of results.md: a row per variant in `order`; metric decimals from the catalog."""
    cols = _columns(results)
    columns = [tables.Column("label", "variant")]
    columns += [tables.metric_column(REGISTERED[c], c, c) if c in LAB_METRICS else tables.Column(c, c)
                for c in cols[2:-1]]
    columns.append(tables.Column("spec_shown", "spec"))
    return tables.Table(columns, [dict(results[k], label=_label(results[k]), spec_shown=f"`{results[k]['spec']}`")
                                  for k in order])


def _interval(value, n, sign=""):
    return f"{value['mean']:{sign}.{n}f} [{value['low']:{sign}.{n}f}, {value['high']:{sign}.{n}f}]"


def uncertainty_lines(results, margins, level):
    """results.md's part on uncertainty: each variant's CIs, its paired difference to the default, verdicts."""
    names = [m for m in LAB_METRICS if m in results[0]["ci"]]
    seeds = len(results[0]["seeds"])
    cis = tables.Table(["variant"] + names, [[_label(r)] + [_interval(r["ci"][m], decimals(m)) if m in r["ci"] else ""
                                               for m in names] for r in results])
    lines = ["", "## Uncertainty", "",
             f"Means over {seeds} seed(s) x the eval images, with 95 % bootstrap intervals (images and seeds "
             "resampled). Differences to ★ are paired by seed and image; p: two-sided bootstrap, Holm-corrected "
             f"over the variants per metric; significant at {level:g}. Practical margins: "
             + (", ".join(f"{m} {v:g}" for m, v in margins.items()) or "none") + ".", "", cis.markdown()]
    others = [r for r in results if "vs_default" in r]
    if not others:
        return lines
    diffs = tables.Table(["variant vs ★", "metric", "difference [95 % CI]", "p", "p (Holm)", "verdict"],
                         [[f"`{r['variant']}`", m, _interval(d, decimals(m), "+"), f"{d['p']:.4f}",
                           f"{d['p_holm']:.4f}", d["verdict"]] for r in others for m, d in r["vs_default"].items()])
    lines += ["", diffs.markdown(), ""]
    for m in names:
        groups = {}
        for r in others:
            if m in r.get("vs_default", {}):
                groups.setdefault(r["vs_default"][m]["verdict"], []).append(f"`{r['variant']}`")
        said = "; ".join(f"{verdict}: {', '.join(vs)}" for verdict, vs in groups.items())
        lines.append(f"- {m} against ★: {said}.")
    if seeds < 2:
        lines.append("- One seed: the intervals cover the images only, not the variation between training runs "
                     "(seeds=3 or more for that).")
    return lines


def target_name(stage):
    return "R_high^1.2" if stage.name == "restoration" else "I_high"


def write_reports(cfg, stage, variants, results, log):
    """results.csv / .json / .md, curves.png, metrics.png, differences.png and samples.png in `cfg.out`."""
    cols = _columns(results)
    order = sorted(range(len(results)), key=lambda k: -results[k]["psnr"])
    tables.write_csv(os.path.join(cfg.out, "results.csv"), _csv_header(cols), [_csv_row(r, cols) for r in results])
    tables.write_json(os.path.join(cfg.out, "results.json"),
                      {"stage": stage.name, "target": target_name(stage), "data_dir": cfg.data_dir,
                       "scoring": cfg.scoring, "variants": results})
    lines = [f"# Loss laboratory: {stage.name}", "",
             f"Scores of the network output against {target_name(stage)} on "
             + ("our485's validation split (sorted pairs 466..484, never eval15)" if cfg.scoring == "validation"
                else "the stage's eval split")
             + (", and end to end (gt_ratio protocol) against the ground truth" if "e2e_psnr" in cols else "")
             + f". Sorted by PSNR; ★ marks the original objective. {results[0]['steps']} steps, batch "
             f"{results[0]['batch_size']}, patch {results[0]['patch_size']}, seed(s) "
             f"{', '.join(map(str, results[0].get('seeds', [results[0]['seed']])))}; the columns are means over "
             "seeds and images (train_seconds: the seeds' sum).", "", results_table(results, order).markdown()]
    if results[0].get("ci"):
        lines += uncertainty_lines(results, parse_margins(cfg.margins), cfg.level)
    atomic_write_text(os.path.join(cfg.out, "results.md"), "\n".join(lines) + "\n")
    log("\n".join(lines[4:]))
    plots.plot_curves(cfg, stage, variants)
    plots.plot_metrics(cfg, results, order)
    plots.plot_differences(cfg, results, parse_margins(cfg.margins))
    plots.plot_samples(cfg, stage, variants, target_name(stage))
    log(f"[lab] results.csv, results.json, results.md, curves.png, metrics.png, differences.png, samples.png in "
        f"{cfg.out}")

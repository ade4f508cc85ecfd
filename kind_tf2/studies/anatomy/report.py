"""The anatomy's tables (anatomy.csv, metrics.csv, correlations.md, summary.md) through `reporting.tables`, then its plots."""

import os

from kind_tf2.files import atomic_write_text
from kind_tf2.reporting import tables
from kind_tf2.studies.anatomy import plots

ROW_COLUMNS = ["image", "distortion", "level", "index", "term", "value", "value_norm", "grad_norm", "grad_norm_norm"]
METRIC_COLUMNS = ["image", "distortion", "level", "index", "psnr", "ssim_rgb", "ciede2000", "niqe"]
# The metrics each term is ranked against, and their headers in correlations.md.
CORRELATED = {"psnr": "PSNR", "ssim_rgb": "SSIM", "niqe": "NIQE", "ciede2000": "CIEDE2000"}


def correlation_table(correlations, terms):
    """Spearman's rho of each term against each metric of `CORRELATED`, as a `Table` (two decimals, signed)."""
    columns = [tables.Column("term", "term")] + [tables.Column(m, header, lambda rho: f"{rho:+.2f}")
                                                 for m, header in CORRELATED.items()]
    return tables.Table(columns, [dict(correlations[t], term=t) for t in terms])


def write(cfg, rows, image_metrics, correlations, summary, heat, dists, terms):
    """Every table and plot of one anatomy run in `cfg.out`; returns the paths written."""
    written = []
    for name, header, items in (("anatomy.csv", ROW_COLUMNS, rows), ("metrics.csv", METRIC_COLUMNS, image_metrics)):
        path = os.path.join(cfg.out, name)
        tables.write_csv(path, header, [[r[h] for h in header] for r in items])
        written.append(path)
    md = ["# Loss anatomy: rank correlation with the metrics", "",
          "Spearman's rho of each term's value with each metric over every distorted image.", "",
          correlation_table(correlations, terms).markdown()]
    for name, text in (("correlations.md", md), ("summary.md", summary)):
        path = os.path.join(cfg.out, name)
        atomic_write_text(path, "\n".join(text) + "\n")
        written.append(path)
    written.append(plots.plot_responses(cfg, rows, dists, terms))
    if heat:
        written.append(plots.plot_heat(cfg, heat, terms))
    return written

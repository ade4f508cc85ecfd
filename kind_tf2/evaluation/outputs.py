"""What an evaluation writes: the metrics table (printed), `metrics.csv` and `metrics.json`, through `reporting.tables`."""

import math
import os

import numpy as np

from kind_tf2 import metrics
from kind_tf2.evaluation.protocols import PROTOCOLS, anchor_line
from kind_tf2.files import atomic_write_text
from kind_tf2.metrics import catalog
from kind_tf2.reporting import tables


def metric_keys(rows):
    """The metric columns of scored rows, in their order (every key but `image`)."""
    return [k for k in rows[0] if k != "image"] if rows else []


def mean_metrics(rows):
    """Mean of each metric column over the rows (NaN entries, from tiny images, are left out)."""
    out = {}
    for k in metric_keys(rows):
        vals = [r[k] for r in rows if not math.isnan(r[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    return out


def metrics_table(rows, mean_label):
    """A `tables.Table` of the per-image rows and their mean (labelled `mean_label`), metric columns from the catalog."""
    keys = metric_keys(rows)
    return tables.Table([tables.Column("image", "image")] + tables.metric_columns(keys),
                        rows + [dict(mean_metrics(rows), image=mean_label)])


def format_table(rows, protocol):
    """The metrics table as text: one line per image, the mean, the protocol and (with ground truth) the paper anchor."""
    keys = metric_keys(rows)
    table = metrics_table(rows, f"mean ({len(rows)} images)")
    arrows = ", ".join(f"{c.header} {'higher' if catalog.describe(k).higher_is_better else 'lower'}"
                       for k, c in zip(keys, table.columns[1:]) if not k.endswith("_input"))
    lines = [f"protocol: {protocol} -- {PROTOCOLS[protocol].description}", table.text(), f"better: {arrows}"]
    if any(catalog.describe(k).reference for k in keys):
        lines.append(anchor_line(protocol))
    return "\n".join(lines)


def write_metrics(folder, rows, protocol):
    """`metrics.csv` (per image, then the mean) and `metrics.json` (with protocol, metric notes and anchor)."""
    keys = metric_keys(rows)
    atomic_write_text(os.path.join(folder, "metrics.csv"), metrics_table(rows, "mean").csv())
    notes = {c: catalog.describe(c).measures + (" (of the input image)" if c.endswith("_input") else "")
             + f"; {'higher' if catalog.describe(c).higher_is_better else 'lower'} is better" for c in keys}
    doc = {"protocol": protocol, "protocol_description": PROTOCOLS[protocol].description, "metrics": notes,
           "paper_anchor": metrics.PAPER_ANCHOR, "images": rows, "mean": mean_metrics(rows)}
    tables.write_json(os.path.join(folder, "metrics.json"), doc)

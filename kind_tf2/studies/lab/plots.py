"""The laboratory's plots: curves.png, metrics.png, differences.png and samples.png."""

import math
import os
import textwrap

import numpy as np
from PIL import Image

from kind_tf2.metrics import catalog
from kind_tf2.reporting import plots
from kind_tf2.studies.lab.config import E2E_METRICS, LAB_METRICS, REGISTERED, decimals


def _wrap(text, width=22):
    # Break between terms (after commas), never inside a term's name or parameters.
    return "\n".join(textwrap.wrap(text.replace(",", ", "), width, break_on_hyphens=False,
                                    break_long_words=False)).replace(", ", ",") or text


def plot_curves(cfg, stage, variants):
    """curves.png: the training loss of each variant (total and its terms), from its TensorBoard event files."""
    from kind_tf2.training import engine

    plt = plots.pyplot()
    n = len(variants)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    for k, v in enumerate(variants):
        ax = axes[k // cols][k % cols]
        series = engine.read_scalars(os.path.join(v.folder, "logs"))
        for tag, (steps, values) in sorted(series.items()):
            if not tag.startswith("loss/"):
                continue
            name = tag[len("loss/"):]
            is_total = name == stage.total_name
            ax.plot(steps, values, color="black" if is_total else None, lw=2.0 if is_total else 1.0,
                    label=("total" if is_total else name))
        ax.set_title(("★ " if v.is_default else "") + _wrap(v.label, 40), fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(f"{stage.name}: training loss of each variant (total and its terms)")
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "curves.png"))
    plt.close(fig)


_GRID_COLUMNS = 4  # panels a row in metrics.png and differences.png


def _metric_grid(plt, n, row_height):
    """A figure of n panels, _GRID_COLUMNS a row; the panels in order (unused ones hidden)."""
    cols = min(n, _GRID_COLUMNS)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 1.5, row_height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _metric_title(key):
    """"end-to-end NIQE (lower better)" for e2e_niqe; "stage PSNR dB" for psnr."""
    m = catalog.METRICS[REGISTERED[key]]
    where = "end-to-end" if key in E2E_METRICS else "stage"
    return f"{where} {m.header}" + ("" if m.higher_is_better else " (lower better)")


def plot_metrics(cfg, results, order):
    """metrics.png: each metric's mean per variant with its 95 % interval, the default in orange."""
    plt = plots.pyplot()
    keys = [k for k in LAB_METRICS if k in results[0]]
    fig, axes = _metric_grid(plt, len(keys), 0.45 * len(results) + 1.4)
    labels = [("★ " if results[k]["default"] else "") + _wrap(results[k]["variant"], 30) for k in order][::-1]
    for ax, key in zip(axes, keys):
        values = [results[k][key] for k in order][::-1]
        colors = ["tab:orange" if results[k]["default"] else "tab:blue" for k in order][::-1]
        cis = [results[k].get("ci", {}).get(key) for k in order][::-1]
        # The 95 % interval of each mean (over images and seeds) as an error bar.
        err = np.array([[v - c["low"], c["high"] - v] if c else [0.0, 0.0] for v, c in zip(values, cis)]).T
        ax.barh(range(len(values)), values, color=colors, xerr=err, error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(labels if ax in axes[::_GRID_COLUMNS] else [""] * len(values), fontsize=8)
        finite = [x for x in values if math.isfinite(x)] + [c[b] for c in cis if c for b in ("low", "high")]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.05
            ax.set_xlim(lo - pad, hi + pad)
        for y, x in enumerate(values):
            ax.text(x, y, f" {x:.{decimals(key)}f}", va="center", fontsize=7)
        ax.set_title(_metric_title(key), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "metrics.png"))
    plt.close(fig)


def plot_differences(cfg, results, margins):
    """differences.png: each variant minus ★, paired by seed and image, with its 95 % interval; the grey band
    is the practical margin, a filled dot a Holm-significant difference."""
    plt = plots.pyplot()
    others = [r for r in results if r.get("vs_default")]
    keys = [m for m in LAB_METRICS if any(m in r["vs_default"] for r in others)]
    if not keys:  # no default among the variants, or only the default
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no paired differences: the default objective is not among the variants, or alone",
                ha="center", va="center", fontsize=9)
        plots.save(fig, os.path.join(cfg.out, "differences.png"))
        plt.close(fig)
        return
    fig, axes = _metric_grid(plt, len(keys), 0.45 * len(others) + 1.6)
    labels = [_wrap(r["variant"], 30) for r in others][::-1]
    for ax, key in zip(axes, keys):
        diffs = [r["vs_default"].get(key) for r in others][::-1]
        for y, d in enumerate(diffs):
            if d is None:
                continue
            significant = d["p_holm"] <= cfg.level
            ax.errorbar(d["mean"], y, xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]], fmt="o",
                        color="black", mfc="black" if significant else "white", capsize=3)
        if key in margins:
            ax.axvspan(-margins[key], margins[key], color="0.85", zorder=0)
        ax.axvline(0.0, color="tab:orange", lw=1)
        ax.set_yticks(range(len(diffs)))
        ax.set_yticklabels(labels if ax in axes[::_GRID_COLUMNS] else [""] * len(diffs), fontsize=8)
        ax.set_title(f"{_metric_title(key)}: variant - ★", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Paired differences to the default, 95 % CI (filled: significant after Holm)", fontsize=10)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "differences.png"))
    plt.close(fig)


def plot_samples(cfg, stage, variants, target):
    """Rows: eval images; columns: each variant's output (previews written when it was scored)."""
    plt = plots.pyplot()

    rows = sorted(int(f.split(".")[0]) for f in os.listdir(os.path.join(variants[0].folder, "eval")))
    refs = os.path.join(cfg.out, "eval")
    inputs = "R_low" if stage.name == "restoration" else "I_low"
    columns = [(f"input ({inputs})", lambda k: os.path.join(refs, f"input_{k}.png"))]
    columns += [(("★ " if v.is_default else "") + _wrap(v.label), lambda k, v=v: os.path.join(v.folder, "eval", f"{k}.png"))
                for v in variants]
    columns.append((f"target ({target})", lambda k: os.path.join(refs, f"target_{k}.png")))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.4 * len(columns), 2.0 * len(rows) + 0.6),
                             squeeze=False)
    for c, (title, path) in enumerate(columns):
        for r, k in enumerate(rows):
            ax = axes[r][c]
            img = np.asarray(Image.open(path(k)))
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{stage.name} output of each variant on the eval images (target: {target})", fontsize=10)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "samples.png"))
    plt.close(fig)

"""The anatomy's plots: responses.png (each term against each distortion's strength) and heatmaps.png (gradients)."""

import math
import os

import numpy as np

from kind_tf2.reporting import plots
from kind_tf2.studies.anatomy.measure import changes, mean_response


def _term_styles(terms):
    """A colour and line style a term, distinct for up to 40 terms (matplotlib's 10-colour cycle repeats)."""
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors
    return {t: (colours[k % 20], ("-", "--")[(k // 20) % 2]) for k, t in enumerate(terms)}


def plot_responses(cfg, rows, dists, terms):
    """responses.png: per distortion, each term's mean change from the clean image, over the term's largest change."""
    plt = plots.pyplot()
    cols = min(4, len(dists))
    nrows = math.ceil(len(dists) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows + 0.8), squeeze=False)
    # Changes, not values: terms such as tv or exposure are not 0 at the clean image, and log_mse is
    # negative; each term is scaled by its largest |change| anywhere, so a flat line is a blind term.
    change, top = changes(rows, dists, terms)
    styles = _term_styles(terms)
    for ax, d in zip(axes.flat, dists):
        for t in terms:
            colour, line = styles[t]
            ax.plot(range(len(change[t, d.name])), [c / top[t] for c in change[t, d.name]], marker="o", ms=3, lw=1.2,
                    color=colour, ls=line, label=t)
        levels = [level for level, _ in mean_response(rows, terms[0], d.name)]
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels([f"{level:g}" for level in levels], fontsize=7)
        ax.set_xlabel(f"{d.name} ({d.unit})", fontsize=8)
        ax.set_title(d.name, fontsize=10)
        ax.set_ylim(-1.08, 1.08)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(dists):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("change from clean / largest change", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(terms)), fontsize=8)
    fig.suptitle("How each term's mean value changes with the strength of each distortion (per term: 1 = its largest "
                 "change under any distortion; flat = blind)", fontsize=11)
    fig.tight_layout(rect=(0, 0.03 + 0.025 * math.ceil(len(terms) / 8), 1, 0.96))
    path = os.path.join(cfg.out, "responses.png")
    plots.save(fig, path)
    plt.close(fig)
    return path


def plot_heat(cfg, heat, terms):
    """heatmaps.png: |dL/dprediction| of each term on the first image, a block of rows per distortion."""
    plt = plots.pyplot()
    dists = sorted({d for _, d in heat})
    cols = min(8, len(terms))
    per = math.ceil(len(terms) / cols)  # rows a distortion
    fig, axes = plt.subplots(per * len(dists), cols, figsize=(2.1 * cols, 1.75 * per * len(dists) + 0.7),
                             squeeze=False)
    for i, d in enumerate(dists):
        for j, t in enumerate(terms):
            ax = axes[i * per + j // cols][j % cols]
            g = heat.get((t, d))
            if g is not None:
                # The 99th percentile, not the max: terms such as grad (min-max normalised gradients) put
                # nearly all of their gradient on a few pixels, which would leave the rest black.
                ax.imshow(np.clip(g / (np.percentile(g, 99) or g.max() or 1.0), 0, 1), cmap="magma", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{t} | {d}", fontsize=7)
        for j in range(len(terms), per * cols):
            axes[i * per + j // cols][j % cols].axis("off")
    fig.suptitle("|dL/dprediction| of each term on the first image at each distortion's strongest level "
                 "(each scaled to its 99th percentile)", fontsize=9)
    fig.tight_layout()
    path = os.path.join(cfg.out, "heatmaps.png")
    plots.save(fig, path)
    plt.close(fig)
    return path

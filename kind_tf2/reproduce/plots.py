"""The reproduction report's plots: each stage's loss curves from its TensorBoard event files."""

import os

from kind_tf2.reporting import plots


def plot_curves(stage, logdir, path):
    """Every loss component of `stage` against the step (raw and smoothed), one panel each; False if no logs."""
    from kind_tf2.training import engine

    series = engine.read_scalars(logdir)
    total = f"loss/{stage.total_name}"
    tags = sorted((t for t in series if t.startswith("loss/")), key=lambda t: (t != total, t))  # the total first
    if not tags:
        return False
    plt = plots.pyplot()
    cols = min(4, len(tags))
    rows = (len(tags) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        steps, values = series[tag]
        ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=0.8)
        ax.plot(steps, plots.smooth(values), color="tab:blue", linewidth=1.5)
        ax.set_title(tag[len("loss/"):], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tags):]:
        ax.axis("off")
    fig.suptitle(f"{stage.name}: training losses (light: per step, dark: smoothed)", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    plots.save(fig, path)
    return True

"""matplotlib for the reports (lab, reproduce): a headless backend, a clear error, atomic PNGs."""

from kind_tf2 import errors, files

INSTALL_HINT = 'pip install -e ".[plots]"'


def pyplot():
    """`matplotlib.pyplot` on the Agg backend; ValueError naming the extra when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise errors.ConfigError(f"the plots are drawn with matplotlib, which is not installed: {INSTALL_HINT}") from None
    return plt


def save(fig, path, dpi=110):
    """Write `fig` as a PNG through a temporary name, then close it."""
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    pyplot().close(fig)


def smooth(values, alpha=0.9):
    """Debiased exponential moving average (TensorBoard's smoothing), for noisy per-step losses."""
    out, acc = [], 0.0
    for t, v in enumerate(values, 1):
        acc = alpha * acc + (1 - alpha) * v
        out.append(acc / (1 - alpha**t))
    return out

"""evaluate.py's seconds per image and peak RSS against image size, the original and the port: `python benchmarks/scaling.py --help`.

For each size (megapixels, 4:3) one synthetic low-light image is enhanced by whole processes:
the original `evaluate.py`, the port untiled (`--tile=none`) and the port tiled (`--tile=512`).
Seconds per image are a run's wall time minus the same implementation's run on a 64x48 image
(start-up and wind-down, measured in the same call), so a process's fixed costs do not count as
image work. Every process runs under an address-space limit (`--memory_limit_gib`): a run that
exceeds it fails and is shown as failed, instead of pushing the machine into swap.
Writes `scaling.md` (table, headed by the machine: CPU, oneDNN, GPUs; `kind_tf2.hardware`), `scaling.json`
and `scaling.png` (plot) into `--out`.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side  # noqa: E402  (the runner shared with the training benchmarks)

CONFIGS = ("original", "port untiled", "port tiled")


def write_input(folder, megapixels, seed=0):
    """One synthetic low-light image of about `megapixels` MP (4:3, sides multiples of 16) in `folder`."""
    from kind_tf2.data import synthesize

    side = (megapixels * 1e6 / 12) ** 0.5
    h, w = max(48, int(round(side * 3 / 16)) * 16), max(64, int(round(side * 4 / 16)) * 16)
    if megapixels < 0.01:
        h, w = 48, 64
    rng = np.random.default_rng(seed)
    # The scene at a tenth of the size, scaled up: procedural scenes at 12 MP take a minute of numpy.
    small = synthesize.scene(rng, max(8, h // 10), max(8, w // 10))
    high = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR)) / 255.0
    low = synthesize.darken(rng, high)
    os.makedirs(folder)
    Image.fromarray((low * 255 + 0.5).astype(np.uint8)).save(os.path.join(folder, "scene.png"))
    return h, w


def run_config(args, ws, config, test_dir, tag, env, limit):
    """One whole process of `config` on the images in `test_dir`: (wall s, peak RSS MiB, ok)."""
    name = f"{tag}_{config.replace(' ', '_')}"
    if config == "original":
        cwd, cmd = side_by_side.original_run_dir(args, ws, "evaluate", None, name, test_dir)
    else:
        cwd, cmd = side_by_side.port_command(args, ws, "evaluate", None, name, test_dir)
        cmd.append("--tile=none" if config == "port untiled" else f"--tile={args.tile}")

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    wall, rss, lines = side_by_side.run_timed(cmd, cwd, env, os.path.join(cwd, "log.txt"), check=False, preexec_fn=cap)
    ok = not (lines and lines[-1][0].startswith("exit status"))
    return wall, rss, ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", help="checkout of github zhangyhuaee/KinD (its .py files)")
    parser.add_argument("--original_python",
                        help="python of a venv with tensorflow-cpu==2.21.0 tf_slim scikit-image scipy")
    parser.add_argument("--reference", default=os.path.join(side_by_side.ROOT, "..", "shared", "kind_reference"))
    parser.add_argument("--megapixels", default="0.25,1,4,12")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3, help="runs per point; the median is reported")
    parser.add_argument("--tile", type=int, default=512, help="tile side of the tiled runs")
    parser.add_argument("--memory_limit_gib", type=float, default=20.0, help="address-space limit of each run")
    parser.add_argument("--out", default=os.path.join(side_by_side.HERE, "results"))
    parser.add_argument("--replot", metavar="JSON", help="only redraw the table and plot from a scaling.json")
    args = parser.parse_args()
    if args.replot:
        with open(args.replot) as f:
            saved = json.load(f)
        write_outputs(saved["rows"], saved["configs"], argparse.Namespace(**saved["settings"], out=args.out))
        return
    if not (args.original and args.original_python):
        parser.error("--original and --original_python are required (unless --replot)")
    args.original, args.reference = os.path.abspath(args.original), os.path.abspath(args.reference)
    args.port_flag = []
    configs = args.configs.split(",")
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"error: --configs: {c!r} is not one of {', '.join(CONFIGS)}")
    sizes = [float(m) for m in args.megapixels.split(",")]
    limit = int(args.memory_limit_gib * 2**30)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    args.machine = side_by_side.machine_line(env)
    print(args.machine, flush=True)
    ws = tempfile.mkdtemp(prefix="kind_scaling_")
    results = {}
    try:
        # One unrecorded run per implementation first: the first process after a while reads
        # TensorFlow's libraries from disk and would count that as image work.
        warm = os.path.join(ws, "warm")
        write_input(warm, 0.0)
        for config in configs:
            run_config(args, ws, config, warm, "warm", env, limit)
        for mp in [0.0] + sizes:  # 0.0: the 64x48 image, start-up and wind-down
            test_dir = os.path.join(ws, f"in_{mp}")
            h, w = write_input(test_dir, mp)
            for k in range(args.repeats):
                for config in configs:
                    wall, rss, ok = run_config(args, ws, config, test_dir, f"{mp}_{k}", env, limit)
                    results.setdefault((mp, config), []).append((wall, rss, ok))
                    print(f"  {w}x{h} ({h * w / 1e6:.2f} MP) {config:<13} run {k + 1}: "
                          + (f"{wall:7.1f} s, peak RSS {rss:6.0f} MiB" if ok else f"failed after {wall:.0f} s "
                             f"(peak RSS {rss:.0f} MiB)"), flush=True)
            results[(mp, "size")] = (h, w)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    rows = summarize(results, sizes, configs)
    write_outputs(rows, configs, args)


def write_outputs(rows, configs, args):
    """scaling.json (rows and settings, for --replot), scaling.md and scaling.png in `args.out`."""
    os.makedirs(args.out, exist_ok=True)
    settings = {"memory_limit_gib": args.memory_limit_gib, "tile": args.tile, "repeats": args.repeats,
                "machine": getattr(args, "machine", None)}
    with open(os.path.join(args.out, "scaling.json"), "w") as f:
        json.dump({"rows": rows, "configs": configs, "settings": settings}, f, indent=1)
    table = format_table(rows, configs, args)
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write(table + "\n")
    print("\n" + table)
    plot(rows, configs, os.path.join(args.out, "scaling.png"), args.memory_limit_gib, getattr(args, "machine", None))
    print(f"\nwritten: {os.path.join(args.out, 'scaling.md')}, scaling.png, scaling.json")


def summarize(results, sizes, configs):
    """Rows `{megapixels, size, config: {s_per_image, rss_mib} or None (failed)}` per size."""
    base = {c: statistics.median(r[0] for r in results[(0.0, c)]) for c in configs}
    rows = []
    for mp in sizes:
        h, w = results[(mp, "size")]
        row = {"megapixels": round(h * w / 1e6, 3), "size": f"{w}x{h}"}
        for c in configs:
            runs = results[(mp, c)]
            good = [r for r in runs if r[2]]
            row[c] = None if len(good) < len(runs) else {
                "s_per_image": statistics.median(r[0] for r in good) - base[c],
                "rss_mib": statistics.median(r[1] for r in good),
            }
            if row[c] is None:
                row[c] = {"failed": True, "rss_mib": max(r[1] for r in runs)}
        rows.append(row)
    return rows


def format_table(rows, configs, args):
    # The machine the figures were measured on (a --replot of an older scaling.json has none).
    machine = getattr(args, "machine", None) or "machine not recorded"
    head = f"{machine}\n\n| size | MP | " + " | ".join(f"{c} s/image | {c} peak RSS" for c in configs) + " |"
    lines = [head, "|" + " --- |" * (2 + 2 * len(configs))]
    for row in rows:
        cells = []
        for c in configs:
            r = row[c]
            cells += ([f"failed ({args.memory_limit_gib:g} GiB address-space limit)", f"{r['rss_mib'] / 1024:.2f} GiB when it failed"]
                      if r.get("failed") else [f"{r['s_per_image']:.1f}", f"{r['rss_mib'] / 1024:.2f} GiB"])
        lines.append(f"| {row['size']} | {row['megapixels']:.2f} | " + " | ".join(cells) + " |")
    lines.append(f"\n(s/image: wall of one image minus the same implementation's wall on a 64x48 image; "
                 f"tiles of {args.tile} px; {args.repeats} run(s) per point, median)")
    return "\n".join(lines)


def plot(rows, configs, path, limit_gib, machine=None):
    from kind_tf2.reporting import plots

    plt = plots.pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"original": ("tab:gray", "o"), "port untiled": ("tab:blue", "s"), "port tiled": ("tab:orange", "^")}
    for c in configs:
        colour, marker = styles[c]
        ok = [(r["megapixels"], r[c]) for r in rows if not r[c].get("failed")]
        bad = [r["megapixels"] for r in rows if r[c].get("failed")]
        ax_t.plot([m for m, _ in ok], [v["s_per_image"] for _, v in ok], marker=marker, color=colour, label=c)
        ax_m.plot([m for m, _ in ok], [v["rss_mib"] / 1024 for _, v in ok], marker=marker, color=colour, label=c)
        for m in bad:
            ax_m.plot([m], [r[c]["rss_mib"] / 1024 for r in rows if r["megapixels"] == m], marker="x",
                      color=colour, markersize=10, linestyle="none", label=f"{c}: failed ({limit_gib:g} GiB address-space limit)")
    for ax, what in ((ax_t, "seconds per image"), (ax_m, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("image size (megapixels)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_yscale("log")
    ax_t.set_title("evaluate.py time per image")
    ax_m.set_title("evaluate.py peak memory")
    if machine:
        fig.suptitle(machine, fontsize=8)
    plots.save(fig, path)


if __name__ == "__main__":
    main()

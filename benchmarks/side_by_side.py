"""The original KinD and this port run in turns, whole processes, on the same data: `python benchmarks/side_by_side.py --help`.

Each job (evaluate, decomposition, illumination, restoration) runs A B A B ... `--repeats` times;
the table (headed by the machine: CPU, its vector units, oneDNN on or off, GPUs; `kind_tf2.hardware`)
gives median wall seconds, the original/port ratio, peak RSS (each process's own
`ru_maxrss`, from `os.wait4`) and the steady-state seconds per training step. Steady state is
read from the scripts' own per-step progress lines, timestamped as they arrive on the pipe: the
mean gap between consecutive step lines of an epoch, leaving out the first `--warmup_steps` of
the run (tracing, first allocations) and the end-of-epoch actions (checkpoints, samples).

Both must do the same work. The original slices LOL's hard-coded splits literally (illumination
trains on images [0:450], restoration on [0:466]), so on a smaller set it trains on every image;
the port scales those splits to the set's size (`lol.original_split`), keeping some for its
samples. At the default 46 pairs both train the same number of steps per epoch in every stage
(decomposition 4, illumination 4, restoration 11); the table counts each run's step lines and
says so when they differ.

The original (github zhangyhuaee/KinD) runs unchanged except its `epoch = N` line; get it with
the search tool's `fetch` and `git show HEAD:<file>`, and give its Python a venv with
tensorflow-cpu==2.21.0 tf_slim scikit-image scipy (README, "Benchmarks").
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOBS = ("evaluate", "decomposition", "illumination", "restoration")
ORIGINAL_SCRIPT = {
    "evaluate": "evaluate.py",
    "decomposition": "decomposition_net_train.py",
    "illumination": "adjustment_net_train.py",
    "restoration": "reflectance_restoration_net_train.py",
}
PORT_SCRIPT = {
    "evaluate": "evaluate.py",
    "decomposition": "train_decom.py",
    "illumination": "train_illumination.py",
    "restoration": "train_restoration.py",
}
# Progress lines of one training step: (epoch, step) of the original's and of the port's.
STEP_LINE = {
    "original": re.compile(r"Epoch: \[\s*(\d+)\] \[\s*(\d+)/\s*\d+\]"),
    "port": re.compile(r"epoch \[(\d+)/\d+\] step \[(\d+)/\d+\]"),
}
ORIGINAL_EPOCH_LINE = re.compile(r"^epoch = \d+\s*$", re.M)


# hardware.describe() in a child: oneDNN's state is TensorFlow's, decided in the processes that import it
# (from the CPU and TF_ENABLE_ONEDNN_OPTS), and this parent process does not import TensorFlow.
MACHINE_PROBE = ("from kind_tf2 import process; process.import_tensorflow(); "
                 "from kind_tf2 import hardware; print(hardware.describe())")


def machine_line(env):
    """The machine in one line (`kind_tf2.hardware.describe()`: CPU, AVX-512/AVX2/bf16, oneDNN, GPUs).

    Asked of a child process with `env`, the environment the benchmark's processes get, so that the
    oneDNN state is theirs; TF_ENABLE_ONEDNN_OPTS is named when set. If the child fails, the CPU
    alone (`hardware.cpu().describe()`, no TensorFlow needed) and why.
    """
    from kind_tf2 import hardware

    proc = subprocess.run([sys.executable, "-c", MACHINE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines and lines[-1].startswith("CPU: "):
        line = lines[-1]
    else:
        line = f"CPU: {hardware.cpu().describe()}; oneDNN unknown (probe exited with {proc.returncode})"
    if env.get("TF_ENABLE_ONEDNN_OPTS") is not None:
        line += f" (TF_ENABLE_ONEDNN_OPTS={env['TF_ENABLE_ONEDNN_OPTS']})"
    return line


@dataclasses.dataclass
class Result:
    """One whole process: wall seconds, peak RSS in MiB, steady-state s/step and step lines (None for evaluate)."""

    wall: float
    rss_mib: float
    s_per_step: float
    steps: int = None


def run_timed(cmd, cwd, env, log_path, check=True, preexec_fn=None):
    """Run `cmd` to completion; returns (wall s, peak RSS MiB, [(line, arrival s)]).

    check: exit with an error naming the log when the command fails; otherwise the lines end
    with ("exit status N", wall).
    """
    lines = []
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=preexec_fn)
        for line in proc.stdout:
            lines.append((line, time.perf_counter() - start))
            log.write(line)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the maximum over all children so far).
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode and not check:
        lines.append((f"exit status {proc.returncode}", wall))
    elif proc.returncode:
        raise SystemExit(f"error: {' '.join(cmd)} exited with {proc.returncode}; its output is in {log_path}")
    return wall, usage.ru_maxrss / 1024, lines


def steady_s_per_step(lines, pattern, warmup):
    """Mean gap between consecutive step lines of the same epoch, after the run's first `warmup` steps."""
    steps = [(int(m.group(1)), int(m.group(2)), t) for line, t in lines if (m := pattern.search(line))]
    gaps = [b[2] - a[2] for k, (a, b) in enumerate(zip(steps, steps[1:]))
            if k + 1 >= warmup and a[0] == b[0] and b[1] == a[1] + 1]
    return sum(gaps) / len(gaps) if gaps else None


def make_data(ws, reference, pairs, eval_pairs, height, width):
    """The synthetic LOL both implementations train on, and the 6 evaluate inputs (600x400)."""
    import numpy as np
    from PIL import Image

    from kind_tf2.data import synthesize

    data = os.path.join(ws, "LOLdataset")
    synthesize.synthesize(data, train=pairs, eval_count=eval_pairs, height=height, width=width, seed=0)
    test = os.path.join(ws, "test")
    os.makedirs(test)
    for stem in ("1", "22"):
        img = np.asarray(Image.open(os.path.join(reference, "images", f"{stem}.png")).convert("RGB"))
        for tag, arr in (("", img), ("_lr", img[:, ::-1]), ("_ud", img[::-1])):
            Image.fromarray(np.ascontiguousarray(arr)).save(os.path.join(test, f"{stem}{tag}.png"))
    return data, test


def original_run_dir(args, ws, job, epochs, k, test_dir=None):
    """A fresh working folder for one run of the original: its scripts, data and checkpoints by link.

    Returns (folder, command). test_dir: the evaluate inputs (default `ws/test`).
    """
    run = os.path.join(ws, f"original_{job}_{k}")
    os.makedirs(os.path.join(run, "checkpoint"))
    for name in ("model.py", "utils.py"):
        shutil.copy(os.path.join(args.original, name), run)
    script = os.path.join(args.original, ORIGINAL_SCRIPT[job])
    with open(script) as f:
        src = f.read()
    if job != "evaluate":
        if len(ORIGINAL_EPOCH_LINE.findall(src)) != 1:
            raise SystemExit(f"error: {script} has no single `epoch = N` line to set")
        src = ORIGINAL_EPOCH_LINE.sub(f"epoch = {epochs}", src)
    with open(os.path.join(run, ORIGINAL_SCRIPT[job]), "w") as f:
        f.write(src)
    if job == "evaluate":
        os.symlink(test_dir or os.path.join(ws, "test"), os.path.join(run, "test"))
    else:
        os.symlink(os.path.join(ws, "LOLdataset"), os.path.join(run, "LOLdataset"))
    if job == "evaluate":
        for sub in ("decom_net_train", "illumination_adjust_net_train", "Restoration_net_train"):
            link_checkpoint(args.reference, sub, os.path.join(run, "checkpoint", sub))
    elif job != "decomposition":  # stages 2 and 3 read the frozen DecomNet from decom_net_retrain/
        link_checkpoint(args.reference, "decom_net_train", os.path.join(run, "checkpoint", "decom_net_retrain"))
    return run, [args.original_python, ORIGINAL_SCRIPT[job]]


def link_checkpoint(reference, sub, dest):
    """A reference checkpoint as the original expects it: its files linked, a relative `checkpoint` file.

    (The reference's own `checkpoint` files may hold absolute paths of the machine that wrote them.)
    """
    src = os.path.join(reference, "checkpoints", sub)
    os.makedirs(dest)
    for name in os.listdir(src):
        if name.startswith("model.ckpt"):
            os.symlink(os.path.join(src, name), os.path.join(dest, name))
    with open(os.path.join(dest, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')


def port_command(args, ws, job, epochs, k, test_dir=None):
    """A fresh folder for one run of the port's script, and its command (see `original_run_dir`)."""
    run = os.path.join(ws, f"port_{job}_{k}")
    os.makedirs(run)
    ckpts = os.path.join(args.reference, "checkpoints")
    cmd = [sys.executable, os.path.join(ROOT, PORT_SCRIPT[job])]
    if job == "evaluate":
        cmd += [f"--input_dir={test_dir or os.path.join(ws, 'test')}", f"--output_dir={os.path.join(run, 'out')}",
                f"--checkpoint_dir={ckpts}", "--nogrid"]  # the original writes no grid
    else:
        cmd += [f"--data_dir={os.path.join(ws, 'LOLdataset')}", f"--checkpoint_dir={os.path.join(run, 'ckpt')}",
                f"--epochs={epochs}", "--log_every=1"]  # a line per step, as the original prints
        if job != "decomposition":
            cmd.append(f"--decom_checkpoint={os.path.join(ckpts, 'decom_net_train')}")
    return run, cmd + args.port_flag


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, help="checkout of github zhangyhuaee/KinD (its .py files)")
    parser.add_argument("--original_python", required=True,
                        help="python of a venv with tensorflow-cpu==2.21.0 tf_slim scikit-image scipy")
    parser.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "kind_reference"))
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--repeats", type=int, default=3, help="runs of each implementation; medians are reported")
    parser.add_argument("--pairs", type=int, default=46,
                        help="synthetic training pairs (46: the same steps per epoch in both, see above)")
    parser.add_argument("--eval_pairs", type=int, default=5, help="synthetic eval15 pairs (restoration decomposes them)")
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--epochs", default="decomposition=10,illumination=10,restoration=1")
    parser.add_argument("--warmup_steps", type=int, default=2, help="first steps of a run left out of the steady state")
    parser.add_argument("--port_flag", action="append", default=[], help="extra flag for the port's scripts")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", help="keep the work folder (data, logs, outputs) here instead of a temporary one")
    args = parser.parse_args()
    args.original, args.reference = os.path.abspath(args.original), os.path.abspath(args.reference)
    for name in ORIGINAL_SCRIPT.values():
        if not os.path.isfile(os.path.join(args.original, name)):
            raise SystemExit(f"error: --original={args.original} has no {name} (a checkout of zhangyhuaee/KinD)")
    if not os.access(args.original_python, os.X_OK):
        raise SystemExit(f"error: --original_python={args.original_python} is not an executable")
    if not os.path.isdir(os.path.join(args.reference, "checkpoints")):
        raise SystemExit(f"error: --reference={args.reference} has no checkpoints/")
    epochs = {k: int(v) for k, v in (kv.split("=") for kv in args.epochs.split(","))}
    jobs = args.jobs.split(",")
    for job in jobs:
        if job not in JOBS:
            raise SystemExit(f"error: --jobs: {job!r} is not one of {', '.join(JOBS)}")

    ws = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="kind_side_by_side_")
    os.makedirs(ws, exist_ok=True)
    make_data(ws, args.reference, args.pairs, args.eval_pairs, args.height, args.width)
    # Unbuffered stdout: step lines are timestamped when printed, not when a pipe buffer fills.
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    machine = machine_line(env)
    print(machine, flush=True)
    print(f"work folder {ws}; {args.pairs} pairs of {args.height}x{args.width}, epochs {epochs}, "
          f"{args.repeats} runs each, in turns", flush=True)
    results = {}
    for job in jobs:
        for k in range(args.repeats):
            for impl, make in (("original", original_run_dir), ("port", port_command)):
                cwd, cmd = make(args, ws, job, epochs.get(job), k)
                wall, rss, lines = run_timed(cmd, cwd, env, os.path.join(cwd, "log.txt"))
                step = count = None
                if job != "evaluate":
                    step = steady_s_per_step(lines, STEP_LINE[impl], args.warmup_steps)
                    count = sum(1 for line, _ in lines if STEP_LINE[impl].search(line))
                results.setdefault(job, {}).setdefault(impl, []).append(Result(wall, rss, step, count))
                print(f"  {job:<14}{impl:<9} run {k + 1}: {wall:7.2f} s, peak RSS {rss:6.0f} MiB"
                      + (f", {count} steps, {step:.4f} s/step" if step else ""), flush=True)
    print_table(results, epochs, machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, **{job: {impl: [dataclasses.asdict(r) for r in rs] for impl, rs in d.items()}
                                              for job, d in results.items()}}, f, indent=1)
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)


def summarize(runs):
    """Medians of wall, peak RSS and s/step over one implementation's runs."""
    def med(xs):
        return statistics.median(xs) if xs else None

    return (med([r.wall for r in runs]), med([r.rss_mib for r in runs]),
            med([r.s_per_step for r in runs if r.s_per_step is not None]))


def print_table(results, epochs, machine):
    print(f"\n{machine}")
    print(f"{'job':<15}{'original s':>11}{'port s':>9}{'ratio':>8}{'RSS orig':>10}{'RSS port':>10}"
          f"{'steps':>10}{'s/step orig':>13}{'s/step port':>13}{'ratio':>8}")
    unequal = []
    for job, d in results.items():
        (ow, orss, ostep), (pw, prss, pstep) = summarize(d["original"]), summarize(d["port"])
        counts = [sorted({r.steps for r in d[impl]}) for impl in ("original", "port")]
        steps = "/".join(",".join(map(str, c)) for c in counts) if counts[0] != [None] else "-"
        if counts[0] != counts[1]:
            unequal.append(f"{job} (original {counts[0]}, port {counts[1]})")
        steady = f"{ostep:>13.4f}{pstep:>13.4f}{ostep / pstep:>7.2f}x" if ostep and pstep else f"{'-':>13}{'-':>13}{'-':>8}"
        print(f"{job:<15}{ow:>11.2f}{pw:>9.2f}{ow / pw:>7.2f}x{orss:>8.0f}Mi{prss:>8.0f}Mi{steps:>10}{steady}")
    print("(medians; ratio = original / port, above 1 the port is faster; RSS in MiB; steps: original/port)")
    if unequal:
        print("WARNING: different numbers of training steps, so the wall times compare different work: "
              + "; ".join(unequal) + " (see --pairs)")


if __name__ == "__main__":
    main()

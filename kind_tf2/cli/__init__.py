"""The command line over the library: `kind-tf2 <command> [--flags]`; only this package reads flags and picks exit codes."""

import dataclasses
import sys

from kind_tf2.registry import Registry


@dataclasses.dataclass(frozen=True)
class Command:
    """One `kind-tf2` command: its flags and its run function, by name in `kind_tf2.cli.commands`."""

    name: str
    summary: str  # one line for `kind-tf2 --help`
    define: str  # commands.<define>() defines its flags
    run: str  # commands.<run>(argv) -> exit status (or a factory, with `arg`)
    arg: str = None  # passed to both when set (the stage of a train-* command)
    positional: str = None  # the one positional argument it takes, for its usage line (golden: record|check)
    prog_arg: bool = False  # run(argv, prog=..., raw=...) takes the program name and the arguments as typed
    # Turn TensorFlow's oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS=1) unless the user set the variable:
    # the training commands. TF enables them by default only on some CPUs; training steps are faster with
    # them on every CPU measured (1.3x on an AVX2-only AMD EPYC, 1.6x with them forced off on a Zen 4) and
    # bf16 is native only through them. Inference keeps TF's own choice: on the AVX2 EPYC oneDNN made
    # tiled 1000x1500 images 1.6x slower (README, "Training").
    onednn: bool = False


COMMANDS = Registry("command")
for _c in (
    Command("train-decom", "train stage 1, DecomNet (the original's train_decom.py)", "define_train", "run_train",
            arg="decomposition", onednn=True),
    Command("train-illumination", "train stage 2, Illumination_adjust_net, behind a frozen DecomNet", "define_train",
            "run_train", arg="illumination", onednn=True),
    Command("train-restoration", "train stage 3, Restoration_net, behind a frozen DecomNet", "define_train",
            "run_train", arg="restoration", onednn=True),
    Command("evaluate", "enhance a folder; with ground truth, score it (PSNR, SSIM, LOE) and write a grid",
            "define_evaluate", "run_evaluate"),
    Command("reproduce", "the paper's pipeline in one command: train three stages, evaluate, report (resumable)",
            "define_reproduce", "run_reproduce", prog_arg=True, onednn=True),
    Command("lab", "train one stage under several objectives from one start and compare them", "define_lab",
            "run_lab", onednn=True),
    Command("anatomy", "what every loss term responds to: controlled distortions of clean images, no training",
            "define_anatomy", "run_anatomy"),
    Command("golden", "record reference outputs of a KinD, or check one against them (record|check)",
            "define_golden", "run_golden", positional="record|check", prog_arg=True),
    Command("export", "write KinD as a SavedModel and/or a TFLite model", "define_export", "run_export"),
    Command("convert", "convert weights: TF1 checkpoints <-> the port's .weights.h5", "define_convert",
            "run_convert"),
    Command("baselines", "score the released first two networks on eval15 without restoration, and ceilings",
            "define_baselines", "run_baselines"),
    Command("quickstart", "reproduce on synthetic data with short settings: every piece in a few minutes",
            "define_quickstart", "run_quickstart", onednn=True),
    Command("synthesize", "write a synthetic low-light data set in the LOL layout", "define_synthesize",
            "run_synthesize"),
):
    COMMANDS.add(_c.name, _c, where=f"kind_tf2.cli ({_c.run})")

PROG = "kind-tf2"


def usage():
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [--flags]   ({PROG} <command> --help: the command's flags)", "",
             "KinD (Kindling the Darkness, ACM MM 2019) in TensorFlow 2, faithful to the original.", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    return "\n".join(lines)


def _define(command, prog):
    """Define the command's flags and make them what `--help` shows, under the command's name."""
    from absl import flags as absl_flags

    from kind_tf2.cli import commands

    before = set(absl_flags.FLAGS)
    getattr(commands, command.define)(*([command.arg] if command.arg else []))
    # `--help` lists the key flags of the main module, which absl names by sys.argv[0]; ours are
    # defined in kind_tf2.cli.flags and .commands, so they are declared the command's key flags.
    sys.argv[0] = prog
    for flag in sorted(set(absl_flags.FLAGS) - before):
        absl_flags.FLAGS.register_key_flag_for_module(prog, absl_flags.FLAGS[flag])
    main_module = sys.modules.get("__main__")
    if main_module is not None:  # the first lines of absl's --help
        positional = f" {command.positional}" if command.positional else ""
        main_module.__doc__ = f"{prog}: {command.summary}.\n\nusage: {prog}{positional} [--flags]"


def run_command(name, argv=None, prog=None):
    """Define command `name`'s flags, parse `argv` (default: sys.argv) and run it; exits with its status.

    The top-level scripts (`python evaluate.py`), `python -m kind_tf2.<job>` and `kind-tf2 <name>` all
    come here. Only this package defines flags, prints `error:` lines and calls sys.exit.
    """
    import os

    from kind_tf2 import process

    command = COMMANDS[name]
    if command.onednn:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow loads
    process.import_tensorflow()  # first: no collections while importing, optional modules left out
    from absl import app, logging

    from kind_tf2.cli import commands

    argv = list(sys.argv if argv is None else argv)
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    prog = prog or (f"python -m {main_spec.name}" if main_spec else f"python {argv[0]}")
    _define(command, prog)
    run = getattr(commands, command.run)
    run = run(command.arg) if command.arg else run

    def main(args):
        if len(args) > 1 + bool(command.positional):
            raise app.UsageError(f"unexpected arguments: {args[1:]}")
        logging.set_verbosity(logging.WARNING)  # keep TF's checkpoint chatter out of the progress lines
        # A job that writes its own command line (reproduce's report) gets it as typed: absl's
        # `args` keep only the positional arguments.
        status = run(args, prog=prog, raw=argv[1:]) if command.prog_arg else run(args)
        return process.end_quickly(status)

    try:
        app.run(main, argv=argv)
    except SystemExit as stop:
        # absl's --help / --helpfull print the flags and exit with status 1; asking for help is
        # not a failure.
        asked = any(a in ("-h", "-?", "--help", "--helpshort", "--helpfull") for a in argv[1:])
        if asked and stop.code == 1:
            sys.exit(0)
        raise


def main(argv=None):
    """`kind-tf2 <command> [--flags]` (the console script)."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help", "--helpshort"):
        print(usage())
        return 0 if len(argv) >= 2 else 2
    name = argv[1]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; expected one of {', '.join(COMMANDS)}\n\n{usage()}", file=sys.stderr)
        return 2
    run_command(name, [f"{PROG} {name}"] + argv[2:], prog=f"{PROG} {name}")

"""The command line: `kind-tf2 <command>`, one `error:` line per bad input, tracebacks for bugs, a clean install."""

import concurrent.futures
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ENV, REPO, copy_checkout

from kind_tf2 import cli, errors
from kind_tf2.cli.runner import exit_status

# Each command with an input that is wrong, and what its one error line must name.
BAD_INPUT = {
    "train-decom": (["--data_dir={tmp}/nowhere"], "{tmp}/nowhere"),
    "train-illumination": (["--data_dir={lol}", "--decom_checkpoint={tmp}/no_decom", "--checkpoint_dir={tmp}/i"],
                           "{tmp}/no_decom"),
    "train-restoration": (["--data_dir={lol}", "--batch_size=-2"], "--batch_size=-2"),
    "evaluate": (["--input_dir={tmp}/no_images"], "--input_dir={tmp}/no_images"),
    "reproduce": (["--data_dir={tmp}/nowhere", "--out={tmp}/run"], "--data_dir={tmp}/nowhere"),
    "lab": (["--data_dir={lol}", "--out={tmp}/lab", "--epochs=0"], "--epochs=0"),
    "golden": (["check", "--golden={tmp}/no_golden"], "--golden={tmp}/no_golden"),
    "anatomy": (["--images={tmp}/no_images_here"], "--images={tmp}/no_images_here"),
    "export": (["--format=onnx", "--out={tmp}/export"], "--format=onnx"),
    "convert": (["--src={tmp}/no_weights", "--dst={tmp}/converted"], "{tmp}/no_weights"),
    "baselines": (["--data_dir={tmp}/nowhere", "--checkpoint_dir={tmp}"], "{tmp}/nowhere"),
    "quickstart": (["--out={tmp}/a_file"], "--out={tmp}/a_file"),
    "synthesize": (["--out={tmp}/syn", "--train=0"], "--train=0"),
}
# The library function each command hands its work to (replaced by a bug in `test_a_bug_keeps_its_traceback`),
# and arguments that reach it.
JOB = {
    "train-decom": ("kind_tf2.training.engine:train", []),
    "train-illumination": ("kind_tf2.training.engine:train", []),
    "train-restoration": ("kind_tf2.training.engine:train", []),
    "evaluate": ("kind_tf2.evaluation:evaluate", ["--input_dir={tmp}/no_images"]),
    "reproduce": ("kind_tf2.reproduce:reproduce", ["--out={tmp}/run"]),
    "lab": ("kind_tf2.studies.lab:run_lab", []),
    "golden": ("kind_tf2.deploy.golden:read_manifest", ["check", "--golden={tmp}/no_golden"]),
    "anatomy": ("kind_tf2.studies.anatomy:run", ["--images={tmp}/no_images"]),
    "export": ("kind_tf2.deploy.export:parse_formats", []),
    "convert": ("kind_tf2.convert:tf1_to_tf2", ["--src={tmp}/no_weights", "--dst={tmp}/converted"]),
    "baselines": ("kind_tf2.studies.baselines:run", ["--data_dir={tmp}/nowhere"]),
    "quickstart": ("kind_tf2.reproduce.quickstart:quickstart", ["--out={tmp}/q"]),
    "synthesize": ("kind_tf2.data.synthesize:synthesize", ["--out={tmp}/syn"]),
}
_BUG = """
import importlib, sys
module, name = {job!r}.split(":")
def bug(*args, **kwargs):
    raise RuntimeError("injected bug")
setattr(importlib.import_module(module), name, bug)
from kind_tf2.cli import main
sys.exit(main(["kind-tf2", *{argv!r}]))
"""


def _kind_tf2(argv, cwd, bug=None):
    """`kind-tf2 <argv>` in a fresh process (through `kind_tf2.cli.main`, as the console script calls it)."""
    if bug:
        code = textwrap.dedent(_BUG).format(job=bug, argv=list(argv))
    else:
        code = f"import sys; from kind_tf2.cli import main; sys.exit(main(['kind-tf2', *{list(argv)!r}]))"
    # Run in `cwd` (the defaults' ./checkpoint etc. land there), with this checkout's kind_tf2.
    env = dict(ENV, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def _runs(tmp_path, lol, bug):
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "no_images").mkdir()
    fill = {"tmp": str(tmp_path), "lol": lol}
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for name in BAD_INPUT:
            args = JOB[name][1] if bug else BAD_INPUT[name][0]
            argv = [name] + [a.format(**fill) for a in args]
            jobs[name] = pool.submit(_kind_tf2, argv, str(tmp_path), JOB[name][0] if bug else None)
    return {name: job.result() for name, job in jobs.items()}, fill


def test_every_command_is_listed_by_help():
    proc = _kind_tf2(["--help"], REPO)
    assert proc.returncode == 0
    for name, command in cli.COMMANDS.items():
        assert f"  {name}" in proc.stdout and command.summary in proc.stdout
    assert set(cli.COMMANDS) == set(BAD_INPUT) == set(JOB)
    unknown = _kind_tf2(["frobnicate"], REPO)
    assert unknown.returncode == 2 and "error: unknown command 'frobnicate'" in unknown.stderr


def test_a_bad_input_is_one_error_line_naming_it(tmp_path, lol):
    results, fill = _runs(tmp_path, lol, bug=False)
    for name, proc in results.items():
        culprit = BAD_INPUT[name][1].format(**fill)
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 1, (name, proc.returncode, proc.stderr[-2000:])
        assert len(lines) == 1 and culprit in lines[0], (name, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (name, proc.stderr[-2000:])


def test_a_bug_keeps_its_traceback(tmp_path, lol):
    results, _ = _runs(tmp_path, lol, bug=True)
    for name, proc in results.items():
        assert proc.returncode != 0, name
        assert "Traceback (most recent call last)" in proc.stderr, (name, proc.stderr[-2000:])
        assert "RuntimeError: injected bug" in proc.stderr, (name, proc.stderr[-2000:])
        assert "error: injected bug" not in proc.stderr, name


@pytest.mark.parametrize("argv, flag", [
    (["train-decom", "--epochs=0"], "--epochs=0"),
    (["train-illumination", "--epochs=-3"], "--epochs=-3"),
    (["train-restoration", "--batch_size=0"], "--batch_size=0"),
    (["reproduce", "--restoration_epochs=0"], "--restoration_epochs=0"),
    (["reproduce", "--illumination_batch_size=-1"], "--illumination_batch_size=-1"),
    (["lab", "--batch_size=-4"], "--batch_size=-4"),
])
def test_zero_or_negative_counts_are_refused_with_the_flag(argv, flag, tmp_path, lol):
    extra = [f"--data_dir={lol}"] + ([f"--out={tmp_path}/out"] if argv[0] in ("reproduce", "lab") else
                                     [f"--checkpoint_dir={tmp_path}/ck"])
    proc = _kind_tf2(argv + extra, REPO)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"error: {flag}: must be"), proc.stderr
    assert not (tmp_path / "ck").exists() and not (tmp_path / "out").exists()  # refused before any work


def test_the_runner_turns_domain_errors_into_one_line_and_lets_bugs_through(capsys):
    def domain():
        raise errors.DataError("x.png: not a readable image")

    def bug():
        raise KeyError("oops")

    assert exit_status(domain) == 1 and capsys.readouterr().err == "error: x.png: not a readable image\n"
    with pytest.raises(KeyError):
        exit_status(bug)
    # Every domain error is a KindError, and still the built-in it used to be.
    assert issubclass(errors.DataError, ValueError) and issubclass(errors.CheckpointNotFound, FileNotFoundError)


def test_installed_non_editable_next_to_another_evaluate(tmp_path):
    """`pip install .` puts only kind_tf2 (and its metadata and console script) in site-packages."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, bindir = str(venv / "bin" / "python"), venv / "bin"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # The venv sees this Python's TensorFlow and friends (--no-deps --no-build-isolation: no network), after
    # its own site-packages. Not --system-site-packages: run from a venv, that would be the base interpreter's
    # packages, not this venv's. Plain paths: the .pth files there (an editable kind_tf2) do not run.
    import site as this_site

    seen = this_site.getsitepackages() + ([this_site.getusersitepackages()] if this_site.ENABLE_USER_SITE else [])
    with open(os.path.join(site, "outer_site_packages.pth"), "w") as f:
        f.writelines(path + "\n" for path in seen if os.path.isdir(path))
    stub = tmp_path / "stub"
    (stub / "evaluate").mkdir(parents=True)
    (stub / "evaluate" / "__init__.py").write_text("STUB = 'the other evaluate'\n")
    (stub / "setup.py").write_text("from setuptools import setup\nsetup(name='evaluate', version='0.0.1', "
                                   "packages=['evaluate'])\n")
    pip = [py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run(pip + [str(stub)], check=True, capture_output=True)
    before = set(os.listdir(site))
    src = copy_checkout(tmp_path / "src")
    subprocess.run(pip + [str(src)], check=True, capture_output=True)
    added = set(os.listdir(site)) - before
    assert {a for a in added if not a.endswith(".dist-info")} == {"kind_tf2"}, added
    assert len([a for a in added if a.endswith(".dist-info")]) == 1, added
    # Run from elsewhere, so that the checkout is not on the path.
    env = dict(ENV, PYTHONPATH="")
    probe = subprocess.run([py, "-c", "import evaluate, kind_tf2; print(evaluate.STUB); print(kind_tf2.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    assert probe[0] == "the other evaluate" and probe[1].startswith(site), probe
    listed = subprocess.run([str(bindir / "kind-tf2"), "--help"], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert listed.returncode == 0 and all(f"  {name}" in listed.stdout for name in cli.COMMANDS), listed.stdout
    helped = subprocess.run([str(bindir / "kind-tf2"), "evaluate", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0 and "--input_dir" in helped.stdout and "--tile" in helped.stdout, helped.stderr
    # Nothing but kind_tf2/, its metadata and the console script.
    record = next(a for a in added if a.endswith(".dist-info"))
    with open(os.path.join(site, record, "RECORD")) as f:
        paths = [line.split(",")[0] for line in f if line.strip()]
    outside = [p for p in paths if not (p.startswith(("kind_tf2/", record + "/")) or p.endswith("bin/kind-tf2"))]
    assert not outside, outside


def test_library_fields_are_said_as_the_flags_that_set_them():
    from kind_tf2.cli.commands import reproduce_flag
    from kind_tf2.cli.runner import flag_message

    def plain(field, section):
        return f"--{field}"

    both = errors.ConfigError("protocol=gt_mean needs high_dir (the ground-truth folder)", fields=("protocol", "high_dir"))
    assert flag_message(both, plain) == "--protocol=gt_mean needs --high_dir (the ground-truth folder)"
    # A field's name inside a path or a file name is left alone.
    named = errors.DataError("golden=/runs/golden: no golden.json (write one with `record`)", fields=("golden",))
    assert flag_message(named, plain) == "--golden=/runs/golden: no golden.json (write one with `record`)"
    # reproduce: a stage's own setting is its prefixed flag; other fields keep the stage in front.
    stage = errors.ConfigError("epochs=0: must be a whole number >= 1", fields=("epochs",), section="restoration")
    assert str(stage) == "restoration: epochs=0: must be a whole number >= 1"
    assert flag_message(stage, reproduce_flag) == "--restoration_epochs=0: must be a whole number >= 1"
    other = errors.ConfigError("vgg_weights=v.h5: file does not exist", fields=("vgg_weights",), section="restoration")
    assert flag_message(other, reproduce_flag) == "restoration: --vgg_weights=v.h5: file does not exist"
    given = errors.ConfigError("given.illumination=/x: no such checkpoint folder or file", fields=("given.illumination",))
    assert flag_message(given, reproduce_flag) == "--illumination_checkpoint=/x: no such checkpoint folder or file"

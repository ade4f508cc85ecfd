"""`python -m kind_tf2.reproduce`: three stages, kill during stage 2, resume, every protocol in the report."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from kind_tf2 import errors, hardware, reproduce
from kind_tf2.data import synthesize

PROTOCOLS = ("fixed_ratio", "gt_ratio", "gt_mean")


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _args(data, out, *extra):
    return [sys.executable, "-m", "kind_tf2.reproduce", f"--data_dir={data}", f"--out={out}",
            "--decom_epochs=2", "--decom_batch_size=4", "--decom_patch_size=32",
            "--illumination_epochs=60", "--illumination_batch_size=4", "--illumination_patch_size=32",
            "--restoration_epochs=1", "--restoration_batch_size=2", "--restoration_patch_size=32", *extra]


def _tables(markdown):
    """{protocol: [first cells of the table rows]} of the report's per-protocol sections."""
    out = {}
    for section in re.split(r"^### Protocol ", markdown, flags=re.M)[1:]:
        name = section.split("\n", 1)[0].strip()
        rows = [line for line in section.split("\n## ")[0].splitlines() if line.startswith("| ")]
        out[name] = [r.split("|")[1].strip() for r in rows[1:]]  # rows[0] is the header
    return out


def test_reproduce_killed_in_stage_two_resumes_and_reports_every_protocol(ref, tmp_path, saved_epoch):
    data = synthesize.synthesize(str(tmp_path / "lol"), train=8, eval_count=2, height=48, width=64)
    out = tmp_path / "run"
    illum = out / "checkpoint" / "illumination_adjust_net_train"
    proc = subprocess.Popen(_args(data, out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Stage 2 has saved a checkpoint and the manager's `checkpoint` file names it (it is written after
    # the ckpt-N files: a kill between the two leaves nothing to resume from).
    while not (illum / "checkpoint").exists():
        assert proc.poll() is None, "reproduce ended before stage 2 checkpointed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (illum / "illumination.weights.h5").exists() or saved_epoch(illum) < 60
    assert not (out / "report.md").exists()
    decom = out / "checkpoint" / "decom_net_train" / "decom.weights.h5"
    before = (_sha(decom), decom.stat().st_mtime_ns)
    state = json.loads((out / "reproduce.json").read_text())
    assert state["stages"]["decomposition"]["status"] == "finished"
    assert state["stages"]["illumination"]["status"] == "running"

    again = subprocess.run(_args(data, out, f"--reference_checkpoint_dir={ref}/checkpoints"), cwd=REPO,
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout
    assert "[reproduce] decomposition: finished earlier" in log and "Starting decomposition" not in log
    assert (_sha(decom), decom.stat().st_mtime_ns) == before  # stage 1 not retrained
    assert re.search(r"Resuming from .*illumination_adjust_net_train.*ckpt-\d+ at epoch [1-9]", log)
    assert saved_epoch(illum) == 60  # stage 2 finished its 60 epochs
    assert "Starting restoration from scratch" in log

    md = (out / "report.md").read_text()
    tables = _tables(md)
    assert set(tables) == set(PROTOCOLS), tables
    for protocol in PROTOCOLS:
        assert tables[protocol][0] == "this run" and tables[protocol][1].startswith("reference ("), tables
        assert (out / "eval" / protocol / "metrics.json").is_file()
    assert "| paper (KinD, LOL eval15, ACM MM 2019 Table 1) | 20.87 | 0.8022 |" in md
    for name in ("decomposition", "illumination", "restoration"):
        assert f"](plots/curves_{name}.png)" in md and (out / "plots" / f"curves_{name}.png").is_file()
        assert re.search(rf"^\| {name} \| finished \|", md, re.M)
    assert "## Versions" in md and "tensorflow: " in md and '"illumination"' in md
    page = (out / "report.html").read_text()
    for protocol in PROTOCOLS:
        assert re.search(rf"<h3>Protocol {protocol}</h3>\s*<p>[^<]*</p>\s*<table>", page)
    assert page.count("src='data:image/png;base64,") >= 3 + 2 * len(PROTOCOLS)  # curves and grids, embedded
    state = json.loads((out / "reproduce.json").read_text())
    assert all(state["stages"][s]["status"] == "finished" for s in state["stages"])
    assert state["stages"]["illumination"]["seconds"] > 0


def test_reproduce_refuses_bad_settings_before_any_work(tmp_path):
    data = synthesize.synthesize(str(tmp_path / "lol"), train=2, eval_count=1, height=16, width=16)
    cfg = reproduce.ReproduceConfig(data_dir=data, out=str(tmp_path / "run"),
                                    overrides={"restoration": {"loss": "l1:1,bogus:2"}})
    with pytest.raises(errors.ConfigError, match="^restoration: .*bogus") as raised:
        reproduce.reproduce(cfg)
    assert raised.value.section == "restoration" and not (tmp_path / "run").exists()
    cfg = reproduce.ReproduceConfig(data_dir=str(tmp_path / "nothing"), out=str(tmp_path / "run"))
    with pytest.raises(reproduce.ReproduceError, match=f"^data_dir={tmp_path / 'nothing'}: no our485/"):
        reproduce.reproduce(cfg)
    cfg = reproduce.ReproduceConfig(data_dir=data, out=str(tmp_path / "run"), overrides={"decomposition": {"lr": 1}})
    with pytest.raises(reproduce.ReproduceError, match="^decomposition: cannot override lr"):
        reproduce.reproduce(cfg)
    # Said on the command line, a stage's own setting is its prefixed flag.
    from kind_tf2.cli.commands import reproduce_flag
    from kind_tf2.cli.runner import flag_message

    cfg = reproduce.ReproduceConfig(data_dir=data, out=str(tmp_path / "run"), overrides={"restoration": {"epochs": 0}})
    with pytest.raises(errors.ConfigError) as raised:
        reproduce.reproduce(cfg)
    assert flag_message(raised.value, reproduce_flag) == "--restoration_epochs=0: must be a whole number >= 1"


def test_stage_flags_override_the_original_defaults():
    from kind_tf2.training import stages

    cfg = reproduce.ReproduceConfig(out="o", overrides={"restoration": {"batch_size": 8, "loss": "l1:1"}})
    rest = reproduce.train_config(cfg, stages.Restoration())
    assert (rest.batch_size, rest.patch_size, rest.epochs, rest.loss) == (8, 384, 1000, "l1:1")
    assert rest.decom_checkpoint == os.path.join("o", "checkpoint", "decom_net_train")
    decom = reproduce.train_config(cfg, stages.Decomposition())
    assert (decom.batch_size, decom.patch_size, decom.epochs, decom.learning_rate) == (10, 48, 2000, 1e-4)


def test_given_networks_are_used_instead_of_trained(ref, tmp_path):
    data = synthesize.synthesize(str(tmp_path / "lol"), train=8, eval_count=2, height=48, width=64)
    out = tmp_path / "run"
    released = os.path.join(ref, "checkpoints")
    cfg = reproduce.ReproduceConfig(
        data_dir=data, out=str(out), command="python -m kind_tf2.reproduce --flags-of-this-test",
        given={"decomposition": os.path.join(released, "decom_net_train"),
               "illumination": os.path.join(released, "illumination_adjust_net_train")},
        overrides={"restoration": {"epochs": 1, "batch_size": 2, "patch_size": 32, "lr_schedule": "cosine"}})
    lines = []
    reproduce.reproduce(cfg, log=lines.append)
    log = "\n".join(lines)
    assert "[reproduce] decomposition: not trained, DecomNet given" in log
    assert "Starting decomposition" not in log and "Starting illumination" not in log
    assert not (out / "checkpoint" / "decom_net_train").exists()
    state = json.loads((out / "reproduce.json").read_text())
    assert [state["stages"][s]["status"] for s in ("decomposition", "illumination", "restoration")] == \
        ["given", "given", "finished"]
    # How the stage was trained: its precision (float32 asked for), steps and machine.
    rest = state["stages"]["restoration"]
    assert rest["precision"] == "float32" and rest["steps"] > 0 and rest["machine"].startswith(hardware.cpu().model)
    assert 0 < rest["step_seconds"] <= rest["seconds"]
    md = (out / "report.md").read_text()
    assert md.split("\n## ")[0].count("python -m kind_tf2.reproduce --flags-of-this-test") == 1  # at the top
    tables = _tables(md)
    for protocol in PROTOCOLS:
        assert tables[protocol][:2] == ["this run", reproduce.NO_RESTORATION_LABEL], tables
        assert (out / "eval_no_restoration" / protocol / "metrics.json").is_file()
    assert re.search(r"^\| decomposition \| given \(not trained, see above\) \|", md, re.M)
    assert "decomposition not trained: " in md and "decom_net_train" in md.split("## Metrics")[0]
    assert re.search(r"^\| restoration \| finished \| 1 \| 2 \| 32 \| 0.0001 \| cosine \| float32 \|", md, re.M)
    assert "## Per image, eval15, gt_ratio" in md
    # Re-running finds everything done; the validation split needs the full our485.
    lines.clear()
    reproduce.reproduce(cfg, log=lines.append)
    assert "[reproduce] restoration: finished earlier" in "\n".join(lines)
    cfg.validation = True
    with pytest.raises(reproduce.ReproduceError, match="our485 has no pairs past 466 for the validation split"):
        reproduce.reproduce(cfg, log=lines.append)

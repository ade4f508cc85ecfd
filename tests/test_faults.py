"""Training that survives faults: NaN guard, SIGTERM/SIGINT preemption, unreadable checkpoints, failed writes."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import ENV, REPO

from kind_tf2 import checkpoints, models
from kind_tf2.training import engine, faults

# 8 training pairs at batch 2: 4 steps per epoch.
ARGS = ["--batch_size=2", "--patch_size=32", "--log_every=1", "--eval_every=100"]


def _decom(lol, folder, *args, check=True):
    proc = subprocess.run([sys.executable, "train_decom.py", f"--data_dir={lol}", f"--checkpoint_dir={folder}",
                           *ARGS, *args], cwd=REPO, env=ENV, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _checkpoint_tensors(prefix):
    """Every tensor of a checkpoint but its save counter (which counts saves, not training)."""
    reader = tf.train.load_checkpoint(str(prefix))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if not k.startswith("save_counter")}


def _float_arrays_finite(tensors):
    floats = {k: v for k, v in tensors.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    assert floats, "no float tensors to check"
    return [k for k, v in floats.items() if not np.isfinite(v).all()]


def _step_of(prefix):
    return int(tf.train.load_checkpoint(str(prefix)).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


# ---- NaN / Inf guard ------------------------------------------------------------------------------


def test_lr_1e6_stops_in_the_first_epoch_and_keeps_the_last_finite_state(lol, tmp_path):
    folder = tmp_path / "nan"
    proc = _decom(lol, folder, "--epochs=3", "--learning_rate=1e6", check=False)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    m = re.match(r"error: step (\d+) \(epoch 1, step \d+ of 4\) is not finite: (.+?); stopped", errors[0])
    assert m, errors[0]
    bad = int(m.group(1))
    assert "loss_Decom" in m.group(2) or "gradients" in m.group(2)
    assert "Finish training" not in proc.stdout
    latest = tf.train.latest_checkpoint(str(folder))
    assert latest and _step_of(latest) == bad - 1  # the last finite step (or the initial state)
    assert _float_arrays_finite(_checkpoint_tensors(latest)) == []
    assert _float_arrays_finite(_checkpoint_tensors(folder / "tf1" / "model.ckpt")) == []
    net = models.build_network("DecomNet")
    net.load_weights(checkpoints.weights_file(str(folder), "DecomNet"))
    assert _float_arrays_finite(checkpoints.network_tensors(net)) == []
    # They are that step's weights, not the initial ones: the TF1 export equals the checkpoint's network.
    tf1 = _checkpoint_tensors(folder / "tf1" / "model.ckpt")
    for name, value in checkpoints.network_tensors(net).items():
        np.testing.assert_array_equal(tf1[name], value, err_msg=name)


def test_skip_step_finishes_and_counts_the_skipped_steps(lol, tmp_path):
    folder = tmp_path / "skip"
    proc = _decom(lol, folder, "--epochs=2", "--learning_rate=1e6", "--nan_policy=skip_step")
    m = re.search(r"skipped (\d+) non-finite step\(s\) of 8 in this run", proc.stdout)
    assert m and 1 <= int(m.group(1)) <= 8, proc.stdout[-2000:]
    assert "Finish training" in proc.stdout
    steps, skipped = engine.read_scalars(str(folder / "logs"))["nan_guard/skipped_steps"]
    assert steps[-1] == 8 and skipped[-1] == int(m.group(1)) and skipped == sorted(skipped)
    latest = tf.train.latest_checkpoint(str(folder))
    assert _step_of(latest) == 8  # skipped steps still count: a resume stays on the data schedule
    assert _float_arrays_finite(_checkpoint_tensors(latest)) == []  # no update from a bad step


def test_nan_policy_is_checked(lol, tmp_path):
    proc = _decom(lol, tmp_path / "x", "--nan_policy=retry", check=False)
    assert proc.returncode != 0 and "nan_policy" in proc.stderr


# ---- preemption -------------------------------------------------------------------------------------

RESUME = ["--epochs=4", "--seed=5", "--deterministic", "--export_tf1=false"]


@pytest.fixture(scope="module")
def uninterrupted(lol, tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    _decom(lol, folder, *RESUME)
    return _checkpoint_tensors(tf.train.latest_checkpoint(str(folder)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_epoch_saves_that_step_and_the_resume_is_bit_exact(lol, tmp_path, uninterrupted, sig):
    folder = tmp_path / "pre"
    cmd = [sys.executable, "train_decom.py", f"--data_dir={lol}", f"--checkpoint_dir={folder}", *ARGS, *RESUME]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.time() + 120
    for line in proc.stdout:  # wait for step 2 of epoch 2: mid-epoch, after one epoch-end checkpoint
        lines.append(line)
        if "epoch [2/4] step [2/4]" in line or time.time() > deadline:
            break
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=120)
    out = "".join(lines) + rest
    assert proc.returncode == 128 + sig, out[-3000:]
    m = re.search(rf"preempted by {sig.name}: saved step (\d+) \(epoch 2, step (\d) of 4\) to (\S+ckpt-\d+) and stopped",
                  out)
    assert m, out[-3000:]
    saved, prefix = int(m.group(1)), m.group(3)
    assert 6 <= saved < 8 and prefix.endswith(f"ckpt-{saved}") and _step_of(prefix) == saved
    assert "Traceback" not in out and not (folder / ".lock").exists()

    again = _decom(lol, folder, *RESUME).stdout
    assert f"Resuming from {prefix} at epoch 1 (step {saved} of 16)" in again
    resumed = _checkpoint_tensors(tf.train.latest_checkpoint(str(folder)))
    assert sorted(resumed) == sorted(uninterrupted)
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


# ---- unreadable checkpoints -------------------------------------------------------------------------


def test_truncated_newest_checkpoint_falls_back_to_the_one_before(lol, tmp_path):
    folder = tmp_path / "run"
    _decom(lol, folder, "--epochs=3", "--export_tf1=false")
    data = folder / "ckpt-12.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    out = _decom(lol, folder, "--epochs=4", "--export_tf1=false").stdout
    assert f"warning: checkpoint {folder / 'ckpt-12'} cannot be read ({data}:" in out
    assert f"Resuming from {folder / 'ckpt-8'} at epoch 2 (step 8 of 16)" in out
    assert _step_of(tf.train.latest_checkpoint(str(folder))) == 16

    # With no readable checkpoint left the run stops; it never starts from scratch.
    for name in os.listdir(folder):
        if name.endswith(".index"):
            os.remove(folder / name)
    proc = _decom(lol, folder, "--epochs=5", "--export_tf1=false", check=False)
    assert proc.returncode == 1 and "Starting decomposition from scratch" not in proc.stdout
    assert f"error: {folder}: none of its checkpoints can be read" in proc.stderr
    assert f"{folder / 'ckpt-16.index'}: missing" in proc.stdout


# ---- failed writes ----------------------------------------------------------------------------------


def test_a_checkpoint_that_cannot_be_written_is_one_line_naming_it(lol, tmp_path):
    folder = tmp_path / "full_disk"
    # A directory where the epoch-2 checkpoint's index goes: its write fails for real (root ignores
    # permissions, so a read-only folder would not).
    (folder / "ckpt-8.index").mkdir(parents=True)
    proc = _decom(lol, folder, "--epochs=3", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: cannot write the checkpoint {folder / 'ckpt-8'}: ")
    assert "Traceback" not in proc.stderr
    latest = tf.train.latest_checkpoint(str(folder))
    assert latest == str(folder / "ckpt-4") and _step_of(latest) == 4  # the previous one still loads
    assert _float_arrays_finite(_checkpoint_tensors(latest)) == []


def test_full_disk_during_the_tf1_export_and_the_samples_names_the_path(lol, tmp_path, monkeypatch):
    import errno

    cfg = engine.TrainConfig(data_dir=lol, checkpoint_dir=str(tmp_path / "tf1_full"), epochs=1, batch_size=4,
                             patch_size=32, eval_every=1)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints, "write_tf1", no_space)
    from kind_tf2.training import stages

    lines = []
    tf1 = os.path.join(cfg.checkpoint_dir, "tf1")
    with pytest.raises(faults.WriteFailed) as raised:
        engine.train(stages.Decomposition(), cfg, log=lines.append)
    assert str(raised.value) == f"cannot write the TF1 checkpoint {tf1}: No space left on device"
    assert tf.train.latest_checkpoint(cfg.checkpoint_dir).endswith("ckpt-2")  # 8 images at batch 4
    monkeypatch.undo()

    cfg.checkpoint_dir, cfg.epochs = str(tmp_path / "samples_full"), 1
    monkeypatch.setattr(stages.Decomposition, "write_samples", no_space)
    samples = os.path.join(cfg.checkpoint_dir, "samples")
    with pytest.raises(faults.WriteFailed) as raised:
        engine.train(stages.Decomposition(), cfg, log=lines.append)
    assert str(raised.value) == f"cannot write the samples of epoch 1 in {samples}: No space left on device"
    assert tf.train.latest_checkpoint(cfg.checkpoint_dir).endswith("ckpt-2")  # saved before the samples


def test_multi_worker_sigterm_goes_through_tfs_preemption_handler(lol, tmp_path, free_ports):
    import json

    folder = tmp_path / "mw"

    def start():
        cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
        return [subprocess.Popen(
            [sys.executable, "train_decom.py", f"--data_dir={lol}", f"--checkpoint_dir={folder}",
             "--strategy=multi_worker", "--epochs=6", "--export_tf1=false", *ARGS], cwd=REPO,
            env=dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": t}})),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for t in range(2)]

    procs = start()
    for line in procs[0].stdout:
        if "epoch [2/6] step [2/4]" in line:
            break
    procs[1].send_signal(signal.SIGTERM)  # a non-chief worker is preempted: all of them save and stop
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [143, 143], outs[0][-2000:] + outs[1][-2000:]
    m = re.search(r"preempted by SIGTERM: saved step (\d+) .* to (\S+) and stopped", outs[0])
    assert m and m.group(2) == str(folder / f"ckpt-{m.group(1)}") and _step_of(m.group(2)) == int(m.group(1))
    assert int(m.group(1)) < 24

    procs = start()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    assert f"Resuming from {m.group(2)}" in outs[0] and "Finish training" in outs[0]
    assert _step_of(tf.train.latest_checkpoint(str(folder))) == 24

"""The stage scripts end to end on a tiny synthetic LOL: chaining, resume after SIGKILL, multi-worker."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ENV, REPO

from kind_tf2 import checkpoints, models
from kind_tf2.training import engine

SMALL = ["--patch_size=32", "--log_every=1"]


def _run(script, *args, env=None, check=True):
    proc = subprocess.run([sys.executable, script, *args], cwd=REPO, env=env or ENV, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _weights(folder, scope):
    net = models.build_network(scope)
    net.load_weights(checkpoints.weights_file(folder, scope))
    return checkpoints.network_tensors(net)


def test_three_stages_chain_and_write_everything(lol, tmp_path):
    decom = tmp_path / "decom"
    out = _run("train_decom.py", f"--data_dir={lol}", f"--checkpoint_dir={decom}", "--epochs=2", "--eval_every=1",
               "--batch_size=4", *SMALL).stdout
    assert "Starting decomposition from scratch" in out and "s/step" in out and " left)" in out
    assert (decom / "decom.weights.h5").is_file() and (decom / "ckpt-4.index").is_file()  # 2 epochs of 2 steps
    assert sorted(os.listdir(decom / "samples"))[:2] == ["high_1_1.png", "high_1_2.png"]
    # TensorBoard: every loss component and the learning rate at each of the 4 steps, the
    # components being those of the progress lines.
    scalars = engine.read_scalars(str(decom / "logs"))
    printed = [(int(e), int(b), float(v)) for e, b, v in
               re.findall(r"epoch \[(\d)/2\] step \[(\d)/2\] loss ([0-9.]+)", out)]
    assert [(e - 1) * 2 + b for e, b, _ in printed] == [1, 2, 3, 4]
    for tag in ("loss/loss_Decom", "loss/recon_loss_low", "loss/equal_R_loss", "learning_rate"):
        assert scalars[tag][0] == [1, 2, 3, 4], tag
    np.testing.assert_allclose(scalars["loss/loss_Decom"][1], [v for _, _, v in printed], atol=1e-6)
    np.testing.assert_allclose(scalars["learning_rate"][1], [1e-4] * 4, rtol=1e-6)
    assert (decom / "tf1" / "checkpoint").is_file()
    for script, name in (("train_illumination.py", "illum"), ("train_restoration.py", "rest")):
        # Stage 2 from the port's folder, stage 3 from the exported TF1 checkpoint.
        src = decom if name == "illum" else decom / "tf1"
        folder = tmp_path / name
        out = _run(script, f"--data_dir={lol}", f"--checkpoint_dir={folder}", f"--decom_checkpoint={src}",
                   "--epochs=1", "--eval_every=1", "--batch_size=2", *SMALL).stdout
        assert "frozen DecomNet" in out
        assert os.listdir(folder / "samples") and any(f.startswith("events") for f in os.listdir(folder / "logs"))
        assert (folder / "tf1" / "model.ckpt.index").is_file()
    assert json.load(open(tmp_path / "rest" / "config.json"))["stage"] == "restoration"


def test_missing_decom_checkpoint_is_an_error(lol, tmp_path):
    proc = _run("train_illumination.py", f"--data_dir={lol}", f"--checkpoint_dir={tmp_path / 'x'}",
                f"--decom_checkpoint={tmp_path / 'none'}", check=False)
    assert proc.returncode != 0 and "none" in proc.stderr


def test_sigkill_then_resume_gives_the_uninterrupted_weights(lol, tmp_path, saved_epoch):
    args = [f"--data_dir={lol}", "--epochs=6", "--batch_size=2", "--eval_every=100", "--seed=3",
            "--deterministic", "--export_tf1=false", *SMALL]
    _run("train_decom.py", f"--checkpoint_dir={tmp_path / 'full'}", *args)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "train_decom.py", f"--checkpoint_dir={killed}", *args],
                            cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (killed / "ckpt-8.index").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert saved_epoch(killed) < 6
    assert json.loads((killed / ".lock").read_text())["pid"] == proc.pid  # left by the killed run
    out = _run("train_decom.py", f"--checkpoint_dir={killed}", *args).stdout
    assert "Resuming from" in out and "at epoch" in out
    assert f"taking over {killed / '.lock'} from a run that is gone (pid {proc.pid})" in out
    assert not (killed / ".lock").exists()  # released at the end
    a, b = _weights(tmp_path / "full", "DecomNet"), _weights(killed, "DecomNet")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_second_run_on_a_live_folder_is_refused(lol, tmp_path):
    folder = tmp_path / "busy"
    args = [f"--data_dir={lol}", f"--checkpoint_dir={folder}", "--batch_size=2", "--eval_every=1000",
            "--export_tf1=false", *SMALL]
    first = subprocess.Popen([sys.executable, "train_decom.py", "--epochs=100000", *args], cwd=REPO, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (folder / ".lock").exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended early"
        second = _run("train_decom.py", "--epochs=1", *args, check=False)
        assert second.returncode == 1
        assert f"error: {folder} is in use by a live run (pid {first.pid})" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_two_process_multi_worker_matches_single_process(lol, tmp_path, free_ports):
    args = [f"--data_dir={lol}", "--epochs=1", "--batch_size=4", "--eval_every=100", "--seed=5",
            "--export_tf1=false", *SMALL]
    _run("train_decom.py", f"--checkpoint_dir={tmp_path / 'single'}", *args)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for task in range(2):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": task}}))
        procs.append(subprocess.Popen(
            [sys.executable, "train_decom.py", f"--checkpoint_dir={tmp_path / 'mw'}", "--strategy=multi_worker", *args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][-2000:] + outs[1][-2000:]
    assert "2 replica(s)" in outs[0]
    a, b = _weights(tmp_path / "single", "DecomNet"), _weights(tmp_path / "mw", "DecomNet")
    for name in a:
        assert float(np.abs(a[name] - b[name]).max()) <= 1e-6, name
    assert not (tmp_path / "mw" / ".worker_1").exists()


def test_lock_held_on_another_host_is_refused_and_names_the_file(tmp_path):
    from kind_tf2.training.lock import FolderLock, FolderLockedError

    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(FolderLockedError, match="pid 1 on host elsewhere.example; if that run is gone, remove"):
        FolderLock(str(tmp_path)).acquire(print)
    (tmp_path / ".lock").unlink()
    lock = FolderLock(str(tmp_path))
    lock.acquire(print)
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / ".lock").exists()

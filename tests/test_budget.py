"""Runs of a number of steps, sparse checkpoints, and a stage trained within a time budget (steps measured, recorded)."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from kind_tf2.training import budget, config, engine, loop, stages

DECOM = stages.STAGES["decomposition"]()
# 8 synthetic training pairs at batch 2: 4 steps per epoch.
SMALL = dict(batch_size=2, patch_size=16, eval_every=100, log_every=1)


def _train(lol, folder, log=None, **settings):
    cfg = config.for_stage(DECOM, dict(SMALL, **settings), data_dir=lol, checkpoint_dir=str(folder))
    return engine.train(DECOM, cfg, log=log or (lambda line: None))


def _tensors(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if not k.startswith("save_counter")}


def _lr_curve(folder):
    return engine.read_scalars(os.path.join(folder, "logs"))["learning_rate"]


def test_a_run_of_steps_ends_mid_epoch_with_a_cosine_over_exactly_those_steps(lol, tmp_path):
    lines = []
    result = _train(lol, tmp_path / "s", lines.append, steps=6, lr_schedule="cosine", learning_rate=1e-3)
    assert (result.steps, result.epochs) == (6, 2)  # 4 + 2 steps
    assert os.path.isfile(tmp_path / "s" / "ckpt-6.index")
    steps, lrs = _lr_curve(tmp_path / "s")
    expected = [1e-3 * 0.5 * (1 + math.cos(math.pi * t / 6)) for t in range(6)]  # step t+1 trains at t/6
    assert steps == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert any("steps (2 epochs)" in line for line in lines)
    # The progress line: seconds per step and the time left (the first line has no pace yet).
    progress = [line for line in lines if " epoch [" in line]
    assert "timing from the next line" in progress[0]
    assert all(" s/step, " in line and " left)" in line for line in progress[1:])
    # Resuming the finished run trains nothing and is not refused.
    again = _train(lol, tmp_path / "s", steps=6, lr_schedule="cosine", learning_rate=1e-3)
    assert (again.steps, again.steps_this_run) == (6, 0)


def test_a_run_of_epochs_keeps_its_schedule_per_epoch(lol, tmp_path):
    _train(lol, tmp_path / "e", epochs=2, lr_schedule="cosine", learning_rate=1e-3)
    assert _lr_curve(tmp_path / "e")[1] == pytest.approx([1e-3] * 4 + [0.5e-3] * 4, rel=1e-6)


def test_sparse_checkpoints_change_nothing_but_the_files(lol, tmp_path):
    every = _train(lol, tmp_path / "every", epochs=3)
    sparse = _train(lol, tmp_path / "sparse", epochs=3, checkpoint_every=1e6)
    assert sorted(f for f in os.listdir(tmp_path / "sparse") if f.endswith(".index")) == ["ckpt-12.index"]
    assert len([f for f in os.listdir(tmp_path / "every") if f.endswith(".index")]) == 3
    a, b = _tensors(every.checkpoint), _tensors(sparse.checkpoint)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # The time inside the steps is recorded beside the run's wall time.
    with open(tmp_path / "sparse" / loop.RESULT_FILE) as f:
        doc = json.load(f)
    assert 0 < doc["step_seconds"] <= doc["seconds"] and doc["precision"] == "float32"


def test_a_time_budget_measures_records_and_trains_what_steps_trains(lol, tmp_path, monkeypatch):
    chosen = {}

    def five(seconds, probe, steps_per_epoch, checkpoint_every):
        chosen.update(seconds=seconds, probe=probe, spe=steps_per_epoch)
        return 5

    monkeypatch.setattr(budget, "steps_within", five)
    lines = []
    timed = _train(lol, tmp_path / "budget", lines.append, time_budget="10m", lr_schedule="cosine")
    probe = chosen["probe"]
    assert 0 < probe.step < 5 and probe.first > 0 and probe.save > 0 and chosen["spe"] == 4
    assert 0 < chosen["seconds"] < 600
    assert timed.steps == 5
    with open(tmp_path / "budget" / budget.BUDGET_FILE) as f:
        doc = json.load(f)
    assert doc["time_budget"] == 600 and doc["steps"] == 5 and doc["machine"]
    assert any("-> 5 steps" in line and "steps=5 trains the same run" in line for line in lines)
    # The probe left no trace: the same steps asked for directly give the same weights.
    direct = _train(lol, tmp_path / "steps", steps=5, lr_schedule="cosine")
    a, b = _tensors(timed.checkpoint), _tensors(direct.checkpoint)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # A re-run reads the recorded steps back instead of measuring again.
    monkeypatch.setattr(budget, "measure", lambda *a: pytest.fail("measured again"))
    lines.clear()
    again = _train(lol, tmp_path / "budget", lines.append, time_budget="10m", lr_schedule="cosine")
    assert again.steps == 5 and any("as chosen earlier" in line for line in lines)


def test_steps_within_counts_the_saves_and_the_start():
    probe = budget.Probe(step=1.0, first=3.0, save=0.5, setup=2.0, precision="float32")
    # 100 s - (2 + 3 + 3 x 0.5) = 93.5 s at 1 s a step plus a 0.5 s save every 10 steps.
    assert budget.steps_within(100, probe, steps_per_epoch=10, checkpoint_every=0) == int(93.5 // 1.05)
    assert budget.steps_within(100, probe, steps_per_epoch=10, checkpoint_every=50) == int(93.5 // 1.01)
    assert budget.steps_within(5, probe, steps_per_epoch=10, checkpoint_every=0) == 0


def test_a_budget_too_small_for_one_step_is_refused(lol, tmp_path):
    with pytest.raises(config.ConfigError, match="time_budget=0.01 s: no training step fits"):
        _train(lol, tmp_path / "tiny", time_budget=0.01)


@pytest.mark.parametrize("text, seconds", [("600", 600), ("90s", 90), ("10m", 600), ("1.5h", 5400), (42, 42)])
def test_durations(text, seconds):
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize("settings, message", [
    ({"time_budget": "ten minutes"}, "^time_budget='ten minutes': expected seconds or a duration"),
    ({"steps": 0}, "^steps=0: must be a whole number > 0"),
    ({"checkpoint_every": -1.0}, "^checkpoint_every=-1.0: must be >= 0 seconds"),
])
def test_bad_lengths_are_refused_naming_the_setting(settings, message):
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.for_stage(DECOM, settings)


@pytest.mark.slow
def test_reproduce_with_a_ten_minute_restoration_budget_on_real_lol_ends_within_ten_percent(real_lol, ref, tmp_path):
    """Restoration_net behind the released first two networks, `--preset=cpu`, `--restoration_time_budget=10m`."""
    from kind_tf2 import reproduce

    ckpt = os.path.join(ref, "checkpoints")
    cfg = reproduce.ReproduceConfig(
        data_dir=real_lol, out=str(tmp_path / "run"), preset="cpu", overrides={"restoration": {"time_budget": "10m"}},
        given={"decomposition": os.path.join(ckpt, "decom_net_train"),
               "illumination": os.path.join(ckpt, "illumination_adjust_net_train")},
        decom_cache=str(tmp_path / "cache"), metrics="psnr,ssim_rgb")
    lines = []
    reproduce.reproduce(cfg, log=lines.append)
    with open(tmp_path / "run" / reproduce.STATE_FILE) as f:
        entry = json.load(f)["stages"]["restoration"]
    with open(tmp_path / "run" / "checkpoint" / "Restoration_net_train" / budget.BUDGET_FILE) as f:
        chosen = json.load(f)
    print(f"restoration: {entry['seconds']:.0f} s for a 600 s budget, {chosen['steps']} steps at "
          f"{chosen['seconds_per_step']} s/step ({chosen['machine']}, {chosen['precision']})")
    assert 540 <= entry["seconds"] <= 660, entry
    assert entry["steps"] == chosen["steps"] > 0 and entry["precision"] == chosen["precision"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"{chosen['steps']} (budget 600 s)" in report
    progress = [line for line in lines if "restoration epoch [" in line]
    assert progress and all("; run: " in line for line in progress[1:])

"""Named presets of `reproduce`, learning-rate schedules, and how settings are layered."""

import math
import os

import pytest

from kind_tf2 import errors, presets, reproduce
from kind_tf2.training import schedules, stages


def test_cosine_schedule_values():
    stage = stages.Restoration()
    lrs = [schedules.learning_rate("cosine", stage, e, 4, 1e-3) for e in range(4)]
    # Independent: base * (1 + cos(pi * e / E)) / 2 for E = 4.
    assert lrs == pytest.approx([1e-3, 1e-3 * (1 + math.sqrt(0.5)) / 2, 5e-4, 1e-3 * (1 - math.sqrt(0.5)) / 2])
    # None and "original" are the stage's own schedule (restoration halves after epoch 800).
    assert schedules.learning_rate(None, stage, 801, 1000, 1e-4) == 5e-5
    assert schedules.learning_rate("original", stage, 800, 1000, 1e-4) == 1e-4
    with pytest.raises(ValueError, match="^lr_schedule=step: expected one of original, cosine"):
        schedules.learning_rate("step", stage, 0, 1, 1.0)


def test_a_name_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="'cosine' is defined twice"):
        schedules.register_schedule("cosine")(lambda *a: 0)
    with pytest.raises(ValueError, match="preset 'original' is defined twice"):
        presets.register_preset(presets.Preset("original", "another", {}))
    assert presets.get("original").stages == {}


def test_settings_are_the_original_then_the_preset_then_the_flags(monkeypatch):
    monkeypatch.setitem(presets.PRESETS, "test", presets.Preset("test", "for this test", {
        "restoration": {"epochs": 7, "patch_size": 192, "lr_schedule": "cosine", "mixed_precision": "bf16"}}))
    cfg = reproduce.ReproduceConfig(out="o", preset="test", overrides={"restoration": {"epochs": 9}},
                                    given={"decomposition": "released/decom_net_train"})
    rest = reproduce.train_config(cfg, stages.Restoration())
    assert (rest.epochs, rest.patch_size, rest.batch_size, rest.learning_rate) == (9, 192, 4, 1e-4)
    assert (rest.lr_schedule, rest.mixed_precision) == ("cosine", "bf16")
    assert rest.decom_checkpoint == "released/decom_net_train"  # the given DecomNet, not <out>/checkpoint/...
    # The flags' names of the defaults are the config's None.
    cfg = reproduce.ReproduceConfig(out="o", overrides={"restoration": {"mixed_precision": "none",
                                                                        "lr_schedule": "original"}})
    rest = reproduce.train_config(cfg, stages.Restoration())
    assert rest.mixed_precision is None and rest.lr_schedule is None
    assert rest.decom_checkpoint == os.path.join("o", "checkpoint", "decom_net_train")


def test_an_unknown_preset_or_given_stage_is_refused(tmp_path):
    from kind_tf2.data import synthesize

    data = synthesize.synthesize(str(tmp_path / "lol"), train=2, eval_count=1, height=16, width=16)
    with pytest.raises(errors.RegistryError, match="^preset=fast: expected one of original, quickstart, cpu"):
        reproduce.reproduce(reproduce.ReproduceConfig(data_dir=data, out=str(tmp_path / "a"), preset="fast"))
    cfg = reproduce.ReproduceConfig(data_dir=data, out=str(tmp_path / "b"),
                                    given={"illumination": str(tmp_path / "missing")})
    with pytest.raises(reproduce.ReproduceError, match="^given.illumination=.*missing: no such checkpoint") as raised:
        reproduce.reproduce(cfg)
    # The command line names the flag that gave it.
    from kind_tf2.cli.commands import reproduce_flag
    from kind_tf2.cli.runner import flag_message

    assert flag_message(raised.value, reproduce_flag).startswith(f"--illumination_checkpoint={tmp_path / 'missing'}:")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

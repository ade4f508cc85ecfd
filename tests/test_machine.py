"""The machine: CPU features from /proc/cpuinfo, the precision `auto` picks, and the warning where bf16 is emulated."""

import json

import pytest

from kind_tf2 import hardware
from kind_tf2.training import config, engine, stages

# Flags lines as /proc/cpuinfo prints them (abridged): an AVX2-only AMD EPYC (Zen 2/3), an AMD EPYC
# Zen 4 (AVX-512 with AVX512_BF16, no AMX) and an Intel Sapphire Rapids (AMX).
AVX2 = "fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2"
ZEN4 = AVX2 + " avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16"
SPR = ZEN4 + " amx_bf16 amx_tile amx_int8"


def _cpuinfo(tmp_path, flags, model="AMD EPYC 7B13"):
    text = "".join(f"processor\t: {k}\nvendor_id\t: X\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: {model}\n"
                   f"flags\t\t: {flags}\n\n" for k in range(2))
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("flags, features", [
    (AVX2, ["AVX2", "no native bf16"]),
    (ZEN4, ["AVX-512", "AVX512_BF16"]),
    (SPR, ["AVX-512", "AVX512_BF16", "AMX"]),
])
def test_cpu_features_are_read_from_cpuinfo(tmp_path, flags, features):
    model, found = hardware._proc_cpuinfo(_cpuinfo(tmp_path, flags))
    cpu = hardware.CPU(model, 2, frozenset(found), "x86_64")
    assert model == "AMD EPYC 7B13 (family 25, model 1)"
    assert cpu.features() == features
    assert cpu.native_bf16 == ("avx512_bf16" in flags)
    assert cpu.describe() == f"AMD EPYC 7B13 (family 25, model 1), 2 cores, x86_64: {', '.join(features)}"


def _machine(monkeypatch, flags, onednn=True, gpus=()):
    cpu = hardware.CPU("Test CPU", 2, frozenset(flags.split()), "x86_64")
    monkeypatch.setattr(hardware, "cpu", lambda: cpu)
    monkeypatch.setattr(hardware, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(hardware, "gpus", lambda: list(gpus))


@pytest.mark.parametrize("flags, onednn, gpus, chosen, why", [
    (AVX2, True, (), None, "no AVX512_BF16 or AMX"),
    (ZEN4, True, (), "bf16", "has AVX512_BF16 and oneDNN is on"),
    (SPR, True, (), "bf16", "has AMX and oneDNN is on"),
    (ZEN4, False, (), None, "oneDNN kernels are off"),
    (AVX2, True, (("NVIDIA H100", (9, 0)),), "bf16", "compute capability 9.0) computes bf16 natively"),
    (AVX2, True, (("Tesla V100", (7, 0)),), None, "has no native bf16"),
])
def test_auto_is_bf16_only_where_native(monkeypatch, flags, onednn, gpus, chosen, why):
    _machine(monkeypatch, flags, onednn, gpus)
    p = hardware.resolve_precision("auto")
    assert p.value == chosen and p.name == (chosen or "float32")
    assert p.reason.startswith("auto: ") and why in p.reason
    assert p.warning is None


def test_explicit_bf16_without_native_support_runs_with_a_warning_naming_the_missing_feature(monkeypatch):
    _machine(monkeypatch, AVX2)
    p = hardware.resolve_precision("bf16")
    assert p.value == "bf16" and "AVX512_BF16 or AMX" in p.warning
    _machine(monkeypatch, SPR)
    assert hardware.resolve_precision("bf16").warning is None
    assert hardware.resolve_precision(None) == hardware.Precision(None, "the original's arithmetic")


def test_the_trainer_logs_the_choice_once_and_config_json_records_it(lol, tmp_path, monkeypatch):
    _machine(monkeypatch, AVX2)
    lines = []
    cfg = config.for_stage(stages.STAGES["decomposition"](), data_dir=lol, checkpoint_dir=str(tmp_path / "d"),
                           epochs=1, batch_size=4, patch_size=16, mixed_precision="auto", eval_every=10)
    result = engine.train(stages.STAGES["decomposition"](), cfg, log=lines.append)
    said = [line for line in lines if line.startswith(("precision:", "warning:"))]
    assert said == ["precision: float32 (auto: CPU Test CPU has no AVX512_BF16 or AMX (AVX2, no native bf16): bf16 "
                    "is emulated there, several times slower than float32)"]
    with open(tmp_path / "d" / "config.json") as f:
        assert json.load(f)["mixed_precision"] is None  # what it trained in, not "auto"
    assert result.precision == "float32"
    # The same request on a bf16 machine is bf16, and an explicit bf16 on the AVX2 one is one warning.
    _machine(monkeypatch, AVX2)
    lines.clear()
    engine.Trainer(stages.STAGES["illumination"](), config.TrainConfig(mixed_precision="bf16"), log=lines.append)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and "no AVX512_BF16 or AMX" in warnings[0]


def test_mixed_precision_values_are_checked():
    with pytest.raises(config.ConfigError, match="^mixed_precision=int8: expected none, auto, bf16 or fp16$"):
        config.TrainConfig(mixed_precision="int8")
    assert config.TrainConfig(mixed_precision="auto").mixed_precision == "auto"


def test_the_cpu_preset_asks_for_auto():
    from kind_tf2 import presets

    assert presets.get("cpu").stages["restoration"]["mixed_precision"] == "auto"


def test_describe_names_this_machine():
    line = hardware.describe()
    assert line.startswith("CPU: ") and hardware.cpu().model in line and "oneDNN" in line
    assert ("AVX-512" in line) == ("avx512f" in hardware.cpu().flags)


@pytest.mark.parametrize("flags, chosen", [(AVX2, "float32"), (SPR, "bf16")])
def test_reproduce_cpu_preset_trains_restoration_in_what_the_machine_does_natively(ref, tmp_path, monkeypatch,
                                                                                    flags, chosen):
    import os

    from kind_tf2 import reproduce
    from kind_tf2.data import synthesize

    _machine(monkeypatch, flags)
    data = synthesize.synthesize(str(tmp_path / "lol"), train=8, eval_count=2, height=48, width=64)
    released = os.path.join(ref, "checkpoints")
    cfg = reproduce.ReproduceConfig(
        data_dir=data, out=str(tmp_path / "run"), preset="cpu", metrics="psnr,ssim_rgb",
        given={"decomposition": os.path.join(released, "decom_net_train"),
               "illumination": os.path.join(released, "illumination_adjust_net_train")},
        overrides={"restoration": {"epochs": 1, "batch_size": 2, "patch_size": 32}})
    lines = []
    reproduce.reproduce(cfg, log=lines.append)
    said = [line.strip() for line in lines if line.strip().startswith("precision:")]
    assert len(said) == 1 and said[0].startswith(f"precision: {chosen} (auto: CPU Test CPU ")
    with open(tmp_path / "run" / reproduce.STATE_FILE) as f:
        entry = json.load(f)["stages"]["restoration"]
    assert entry["precision"] == chosen and entry["settings"]["mixed_precision"] == "auto"
    assert f"| {chosen} (auto) |" in (tmp_path / "run" / "report.md").read_text()

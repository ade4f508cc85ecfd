"""--loss specs in the stage scripts, their errors, resume checks, replicas, and the loss laboratory runner."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ENV, REPO

from kind_tf2 import checkpoints, errors, losses, models
from kind_tf2.studies import lab
from kind_tf2.training import engine, stages


def _quick_decom(data_dir, folder):
    """A DecomNet trained for one epoch: enough for the stages after it to have inputs."""
    cfg = engine.TrainConfig(data_dir=data_dir, checkpoint_dir=folder, epochs=1, batch_size=4, patch_size=32,
                             eval_every=100, export_tf1=False)
    engine.train(stages.Decomposition(), cfg, log=lambda line: None)
    return folder


@pytest.fixture(scope="module")
def decom(lol, tmp_path_factory):
    return _quick_decom(lol, str(tmp_path_factory.mktemp("decom")))


def _script(script, *args):
    return subprocess.run([sys.executable, script, *args], cwd=REPO, env=ENV, capture_output=True, text=True)


# ---- spec parsing ---------------------------------------------------------------------------------------


def test_spec_parsing_and_canonical_form():
    items = losses.parse_spec("huber(delta=0.5):1, ms_ssim(scales=3):0.16,l1")
    assert items == [("huber", {"delta": 0.5}, 1.0), ("ms_ssim", {"scales": 3}, 0.16), ("l1", {}, 1.0)]
    assert losses.format_spec(items) == "huber(delta=0.5):1,ms_ssim(scales=3):0.16,l1:1"
    assert stages.Restoration().objective(None).spec == "l2:1,grad:1,ssim:1"
    assert stages.Illumination().objective(None).spec == "l2:1,grad:1"
    assert losses.parse_decomposition_spec("equal_R_loss:0.05")["equal_R_loss"] == 0.05
    assert losses.parse_decomposition_spec("equal_R_loss:0.05")["i_mutual_loss"] == 0.2


@pytest.mark.parametrize("stage,spec,culprit", [
    ("restoration", "l3:1", "unknown loss term 'l3'"),
    ("restoration", "l1:abc", "weight of l1: 'abc' is not a number"),
    ("restoration", "l1:-1", "negative"),
    ("restoration", "huber(delta=x):1", "huber(delta=...): 'x' is not a number"),
    ("restoration", "huber(delta=0):1", "delta=0.0 must be > 0"),
    ("restoration", "huber(beta=1):1", "huber: unknown parameter 'beta'"),
    ("restoration", "ms_ssim(scales=2.5):1", "must be an integer"),
    ("restoration", "l1:1,l1:2", "appears twice"),
    ("restoration", "l1:1,(", "unbalanced"),
    ("restoration", "perceptual:1", "perceptual needs vgg_weights"),
    ("restoration", "ssim:1", "ssim needs patches of at least 11 px; patch_size=8"),
    ("restoration", "exposure(patch=16):1", "exposure needs patches of at least 16 px"),
    ("illumination", "color:1", "color needs 3-channel images; this stage's have 1"),
    ("decomposition", "l1:1", "'l1' is not one of recon_loss_high"),
    ("decomposition", "equal_R_loss", "give a weight"),
])
def test_bad_specs_stop_before_training_naming_the_culprit(stage, spec, culprit, tmp_path):
    cfg = engine.TrainConfig(data_dir=str(tmp_path / "no_data"), checkpoint_dir=str(tmp_path / "run"),
                             decom_checkpoint=str(tmp_path / "no_decom"), patch_size=8, loss=spec)
    with pytest.raises(errors.ConfigError) as raised:
        engine.train(stages.STAGES[stage](), cfg, log=lambda line: None)
    err = str(raised.value)
    assert culprit in err and err.count("\n") == 0, err
    assert not (tmp_path / "run").exists()  # nothing was trained or written


def test_bad_spec_from_the_command_line(tmp_path):
    proc = _script("train_restoration.py", f"--checkpoint_dir={tmp_path}/r", "--loss=l1:1,foo:2")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown loss term 'foo'")


def test_missing_vgg_file_is_named(tmp_path):
    cfg = engine.TrainConfig(loss="perceptual:1", vgg_weights=str(tmp_path / "vgg.h5"), patch_size=48)
    with pytest.raises(losses.SpecError, match="^vgg_weights=.*vgg.h5: file does not exist$") as raised:
        engine.train(stages.Restoration(), cfg, log=lambda line: None)
    assert raised.value.fields == ("vgg_weights",)


# ---- the stage scripts with --loss ----------------------------------------------------------------------


def test_restoration_and_illumination_train_with_a_spec(lol, decom, tmp_path):
    runs = {
        "train_restoration.py": ("l1:1,ssim:0.5", "l1:1,ssim:0.5", "loss_l1"),
        "train_illumination.py": ("huber(delta=0.3):1", "huber(delta=0.3):1", "loss_huber"),
    }
    for script, (spec, canonical, component) in runs.items():
        folder = tmp_path / script
        proc = _script(script, f"--data_dir={lol}", f"--checkpoint_dir={folder}", f"--decom_checkpoint={decom}",
                       "--epochs=1", "--batch_size=2", "--patch_size=32", "--log_every=1", f"--loss={spec}",
                       "--export_tf1=false")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "objective" in proc.stdout and canonical in proc.stdout and component in proc.stdout
        assert json.load(open(folder / "config.json"))["loss"] == canonical
        tags = engine.read_scalars(str(folder / "logs"))
        assert f"loss/{component}" in tags and len(tags[f"loss/{component}"][0]) >= 1


def test_resume_with_another_loss_is_refused(lol, decom, tmp_path, saved_epoch):
    cfg = engine.TrainConfig(data_dir=lol, checkpoint_dir=str(tmp_path / "r"), decom_checkpoint=decom, epochs=1,
                             batch_size=2, patch_size=32, eval_every=100, export_tf1=False, loss="l1:1")
    engine.train(stages.Illumination(), cfg, log=lambda line: None)
    cfg.epochs, cfg.loss = 2, "l2:1"
    with pytest.raises(errors.ResumeError, match="trained with loss='l1:1'.* another checkpoint_dir") as raised:
        engine.train(stages.Illumination(), cfg, log=lambda line: None)
    assert raised.value.fields == ("loss", "checkpoint_dir")
    assert saved_epoch(tmp_path / "r") == 1
    cfg.loss = "l1"  # the same objective, written differently: resumes
    engine.train(stages.Illumination(), cfg, log=lambda line: None)
    assert saved_epoch(tmp_path / "r") == 2


def test_decomposition_reweighting_changes_the_total_only_as_asked(ref_npz):
    d = ref_npz("losses_decomposition.npz")
    rng = np.random.default_rng(0)
    r = rng.random(d["input_low"].shape).astype(np.float32)
    i = rng.random(d["input_low"].shape[:3] + (1,)).astype(np.float32)
    base, parts = losses.DecompositionObjective()(d["input_low"], d["input_high"], r, i, r * 0.9, i * 0.8)
    new, _ = losses.DecompositionObjective("equal_R_loss:0.5,i_mutual_loss:0")(
        d["input_low"], d["input_high"], r, i, r * 0.9, i * 0.8)
    want = float(base) + (0.5 - 0.01) * float(parts["equal_R_loss"]) - 0.2 * float(parts["i_mutual_loss"])
    assert abs(float(new) - want) <= 1e-6 * abs(want)


# ---- replicas -------------------------------------------------------------------------------------------


def test_two_replicas_equal_one_device_with_a_new_objective(ref, ref_npz, two_cpu_strategy):
    d = ref_npz("losses_restoration.npz")
    batch = {"low_r": np.concatenate([d["input_low_r"]] * 2), "low_i": np.concatenate([d["input_low_i"]] * 2),
             "high_r": np.concatenate([d["input_high_r"], d["input_high_r"][:, ::-1]])}
    batch = {k: v[:, :64, :64] for k, v in batch.items()}  # 4 images of 64x64: ms_ssim uses 3 scales
    spec = "l1:1,ms_ssim:0.16,color:0.1"

    def trainer(strategy=None):
        cfg = engine.TrainConfig(batch_size=4, patch_size=64, loss=spec)
        t = engine.Trainer(stages.Restoration(), cfg, strategy)
        checkpoints.load_network_weights(t.model, os.path.join(ref, "checkpoints", "Restoration_net_train"))
        return t

    single, mirrored = trainer(), trainer(two_cpu_strategy)
    dist = two_cpu_strategy.experimental_distribute_values_from_function(
        lambda ctx: {k: v[2 * ctx.replica_id_in_sync_group: 2 * ctx.replica_id_in_sync_group + 2]
                     for k, v in batch.items()})
    for step in range(2):
        a, b = single.train_step(batch), mirrored.train_step(dist)
        assert set(a) == {"loss_l1", "loss_ms_ssim", "loss_color", "loss_restoration"}
        for k in a:
            assert abs(float(a[k]) - float(b[k])) <= 1e-6 * max(1.0, abs(float(a[k]))), k
        wa, wb = checkpoints.network_tensors(single.model), checkpoints.network_tensors(mirrored.model)
        worst = max(float(np.abs(wa[name] - wb[name]).max()) for name in wa)
        # After one step the weights agree to 2.7e-8. The second Adam step divides m by sqrt(v):
        # where a weight's two gradients nearly cancel, the replicas' float rounding of the summed
        # gradient becomes a larger step difference. Measured after step 2: each term alone
        # 1e-8..4e-8 (l1, ms_ssim, color), l2 + ms_ssim 2.4e-7, this sum 6.7e-6 (one bias).
        assert worst <= (1e-6 if step == 0 else 2e-5), f"step {step + 1}: {worst}"


# ---- the laboratory -------------------------------------------------------------------------------------


def test_lab_writes_every_file_and_a_second_run_trains_nothing(lol, decom, tmp_path):
    illum = str(tmp_path / "illum")
    icfg = engine.TrainConfig(data_dir=lol, checkpoint_dir=illum, decom_checkpoint=decom, epochs=1, batch_size=2,
                              patch_size=32, eval_every=100, export_tf1=False)
    engine.train(stages.Illumination(), icfg, log=lambda line: None)
    out = tmp_path / "lab"
    cfg = lab.LabConfig(stage="restoration", data_dir=lol, decom_checkpoint=decom, out=str(out),
                        variants="default; l1:1 ;l1:0.84,ms_ssim:0.16", epochs=1, batch_size=2, patch_size=32,
                        illumination_checkpoint=illum)
    lines = []
    lab.run_lab(cfg, log=lines.append)
    for name in ("results.csv", "results.json", "results.md", "curves.png", "metrics.png", "samples.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert any("variant 3/3" in line for line in lines)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["variant"] for r in rows] == ["default", "l1:1", "l1:0.84,ms_ssim:0.16"]
    assert rows[0]["default"] == "True" and all(float(r["psnr"]) > 0 and r["e2e_psnr"] for r in rows)
    md = open(out / "results.md").read()
    assert "★ `default`" in md and "e2e_psnr" in md
    # End to end, every output is scored by the registered metrics; NIQE cannot score 48x64 scenes (it needs
    # 96x192): one warning an image, and no mean.
    assert {"e2e_ssim", "e2e_loe", "e2e_ciede2000", "e2e_brisque"} <= {k for k, v in rows[0].items() if v}
    assert all(r["e2e_niqe"] == "nan" for r in rows)
    assert any(line.strip().startswith("warning:") and "niqe not scored" in line for line in lines)
    # Every variant started from the same weights and saw the same patches: only the objective differs.
    doc = json.load(open(out / "results.json"))
    assert {v["steps"] for v in doc["variants"]} == {3}
    init = models.build_network(models.RESTORATION_SCOPE)
    init.load_weights(str(out / "init.weights.h5"))
    folders = sorted(os.listdir(out / "variants"))
    assert len(folders) == 3
    losses_first = [engine.read_scalars(str(out / "variants" / f / "logs")) for f in folders]
    l1_runs = [s for s in losses_first if "loss/loss_l1" in s]
    assert len(l1_runs) == 2 and l1_runs[0]["loss/loss_l1"][1][0] == l1_runs[1]["loss/loss_l1"][1][0]

    again = []
    lab.run_lab(cfg, log=again.append)
    assert sum("finished earlier, skipped" in line for line in again) == 3
    assert not any("Starting" in line or "frozen DecomNet" in line for line in again)


def test_lab_refuses_a_bad_variant_naming_it(lol, decom, tmp_path):
    cfg = lab.LabConfig(stage="illumination", data_dir=lol, decom_checkpoint=decom, out=str(tmp_path / "o"),
                        variants="default;color:1", epochs=1, batch_size=2, patch_size=32)
    with pytest.raises(losses.SpecError, match="^variants: 'color:1': color needs 3-channel images"):
        lab.run_lab(cfg, log=lambda line: None)
    assert not (tmp_path / "o").exists()


# ---- seeds and uncertainty ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lol4(tmp_path_factory):
    """8 training and 4 eval pairs (the shared `lol` has 2 eval pairs: 2 images x 2 seeds is too few cells to test on)."""
    from kind_tf2.data import synthesize

    return synthesize.synthesize(str(tmp_path_factory.mktemp("lol4")), train=8, eval_count=4, height=48, width=64)


@pytest.fixture(scope="module")
def decom4(lol4, tmp_path_factory):
    return _quick_decom(lol4, str(tmp_path_factory.mktemp("decom4")))


SEEDS_VARIANTS = "default;l2:1,grad:1,ssim:1,tv:0;tv:1"


def _lab_with_seeds(lol, decom, out):
    # 20 steps of 4 x 48² at 5e-4 (the quickstart's restoration settings): measured, the default reaches
    # 32.8 dB on R_high^1.2 and tv:1 alone 27.2 (-5.6 dB, CI [-6.7, -4.7]; SSIM -0.003, CI [-0.004, -0.002]).
    # At 40 steps of 2 x 32² and 1e-3 the default had not yet left the flat start and tv:1 was not
    # distinguishable from it.
    cfg = lab.LabConfig(stage="restoration", data_dir=lol, decom_checkpoint=decom, out=str(out),
                        variants=SEEDS_VARIANTS, epochs=10, batch_size=4, patch_size=48, learning_rate=5e-4, seeds=2)
    lines = []
    lab.run_lab(cfg, log=lines.append)
    return json.load(open(out / "results.json")), lines


def test_lab_seeds_a_renamed_copy_is_no_different_and_tv_alone_is_worse(lol4, decom4, tmp_path):
    # `l2:1,grad:1,ssim:1,tv:0` is the default `l2:1,grad:1,ssim:1` under another name (a 0 weight logs a term and
    # adds exact zeros to the loss and its gradients): the same training, no difference may be found. (The
    # default scaled by 2 is not the same: measured -0.04 dB, significant, through Adam's epsilon.) `tv:1`
    # alone has no fidelity term: it must be found worse.
    doc, lines = _lab_with_seeds(lol4, decom4, tmp_path / "lab")
    by = {v["variant"]: v for v in doc["variants"]}
    assert [len(v["runs"]) for v in doc["variants"]] == [2, 2, 2]
    assert {r["seed"] for r in by["default"]["runs"]} == {0, 1}
    assert len(by["default"]["runs"][0]["per_image"]) >= 4  # eval15 (4 here), and any held out of our485
    same, broken = by["l2:1,grad:1,ssim:1,tv:0"]["vs_default"], by["tv:1"]["vs_default"]
    for m in ("psnr", "ssim"):
        assert same[m]["verdict"] == "no practical difference" and same[m]["mean"] == 0.0, same[m]
        assert broken[m]["verdict"] == "worse" and broken[m]["high"] < 0 and broken[m]["p_holm"] <= 0.05, broken[m]
        ci = by["default"]["ci"][m]
        assert ci["low"] <= by["default"][m] <= ci["high"]
    md = (tmp_path / "lab" / "results.md").read_text()
    assert "## Uncertainty" in md and "| `tv:1` | psnr |" in md and "worse: `tv:1`" in md
    for name in ("differences.png", "metrics.png"):
        assert (tmp_path / "lab" / name).stat().st_size > 0
    header = (tmp_path / "lab" / "results.csv").read_text().splitlines()[0].split(",")
    assert "psnr_low" in header and "psnr_verdict" in header and "n_seeds" in header
    # Re-running skips every finished (variant, seed) pair.
    again, lines = _lab_with_seeds(lol4, decom4, tmp_path / "lab")
    assert sum("finished earlier, skipped" in line for line in lines) == 6
    assert again["variants"][2]["vs_default"]["psnr"] == doc["variants"][2]["vs_default"]["psnr"]


def test_lab_settings_layer_the_preset_under_its_flags(lol, decom, tmp_path):
    # The cpu preset's restoration settings (presets.py: 4 x 192², 1e-4 cosine, bf16), under the lab's own flags.
    stage = stages.Restoration()
    cfg = lab.LabConfig(stage="restoration", data_dir=lol, decom_checkpoint=decom, out=str(tmp_path), preset="cpu",
                        epochs=3, mixed_precision="none", decom_cache=str(tmp_path / "cache"))
    variant = lab.parse_variants(cfg, stage)[0]
    tc = lab.train_config(cfg, stage, variant, None)
    assert (tc.epochs, tc.batch_size, tc.patch_size, tc.learning_rate) == (3, 4, 192, 1e-4)
    assert (tc.lr_schedule, tc.mixed_precision, tc.eval_every) == ("cosine", None, 3)
    assert tc.decom_cache == str(tmp_path / "cache")
    cfg.preset, cfg.epochs, cfg.mixed_precision = "original", None, None
    tc = lab.train_config(cfg, stage, variant, None)
    assert (tc.epochs, tc.patch_size, tc.lr_schedule, tc.mixed_precision) == (1000, 384, None, None)  # the original's
    cfg.preset = "fast"
    with pytest.raises(errors.ConfigError, match="^preset=fast: expected one of"):
        lab.train_config(cfg, stage, variant, None)


def test_lab_refuses_zero_seeds_and_bad_margins(lol, decom, tmp_path):
    cfg = lab.LabConfig(stage="illumination", data_dir=lol, decom_checkpoint=decom, out=str(tmp_path / "o"),
                        epochs=1, batch_size=2, patch_size=32, seeds=0)
    with pytest.raises(errors.ConfigError, match="^seeds=0: must be a whole number >= 1$"):
        lab.run_lab(cfg, log=lambda line: None)
    cfg.seeds, cfg.margins = 1, "psnr:-1"
    with pytest.raises(errors.ConfigError, match="^margins=psnr:-1: 'psnr:-1' is not"):
        lab.run_lab(cfg, log=lambda line: None)
    assert not (tmp_path / "o").exists()


def test_the_validation_scoring_split_is_our485_466_to_484_and_needs_the_full_set(lol, decom, tmp_path):
    from kind_tf2.data import lol as lol_data

    assert lol_data.validation_split(485) == list(range(466, 485))
    with pytest.raises(lol_data.DatasetError, match="our485 has 8 pairs: the validation split .* needs the full 485"):
        stages.Restoration().prepare(lol, decom, lambda line: None, scoring="validation")
    cfg = lab.LabConfig(stage="restoration", data_dir=lol, decom_checkpoint=decom, out=str(tmp_path / "o"),
                        epochs=1, batch_size=2, patch_size=32, scoring="eval15")
    with pytest.raises(errors.ConfigError, match="^scoring=eval15: expected one of eval, validation$"):
        lab.run_lab(cfg, log=lambda line: None)

"""Real LOL-v1 (../shared/lol): sizes past 2**31 bytes, each stage training at 600x400, eval15 under every protocol."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from kind_tf2.data import patches

# LOL-v1: 485 training pairs of 600x400; restoration trains on the original's [0:466].
LOL_H, LOL_W, RESTORATION_TRAIN = 400, 600, 466


def test_restoration_stack_of_the_full_lol_is_allocated(real_lol):
    # The sizes come as stack_padded takes them: the max of an int32 [N, 2] array. Before the fix
    # n * h * w * 7 * 4 was computed in int32 (3.1e9 > 2**31): "negative dimensions are not allowed".
    sizes = np.array([[LOL_H, LOL_W]] * RESTORATION_TRAIN, np.int32)
    h, w = sizes.max(axis=0)
    views = patches.channel_stack(RESTORATION_TRAIN, h, w, {"low_r": 3, "low_i": 1, "high_r": 3}, np.float32)
    assert [v.shape for v in views.values()] == [(466, 400, 600, 3), (466, 400, 600, 1), (466, 400, 600, 3)]
    whole = patches._whole_of_views(list(views.values()))
    assert whole is not None and whole.nbytes == 466 * 400 * 600 * 7 * 4 > 2**31
    # The last image's last pixel is addressable and distinct from the first's (zeroed pages: only
    # the two touched pages are ever backed by memory).
    views["high_r"][-1, -1, -1] = 7.0
    assert whole[-1, -1, -1, -1] == 7.0 and whole[0, 0, 0, -1] == 0.0
    assert whole.ctypes.data % patches.ALIGN_BYTES == 0


def _check_last_image_patch(sampler, n, key, decode, crop_of):
    """Patch of image n-1 in pass 0 (patch n-1 of the cycle): equal to the drawn crop, augmented as drawn."""
    import tensorflow as tf

    from kind_tf2 import image_ops

    b = sampler.batch_size
    batch = sampler.batch(tf.constant((n - 1) // b))
    j = (n - 1) % b
    assert int(batch["index"][j]) == n - 1
    patch = batch[key][j].numpy()
    r0, c0 = decode(patch)
    np.testing.assert_array_equal(patch, image_ops.augment(crop_of(r0, c0), int(batch["mode"][j])).numpy())


def test_restoration_patches_from_the_last_image_of_a_stack_past_2gb():
    # The sampler's variable takes the 3.1 GB stack of the full LOL and reaches its last image.
    n, p = RESTORATION_TRAIN, 64
    views = patches.channel_stack(n, LOL_H, LOL_W, {"low_r": 3, "low_i": 1, "high_r": 3}, np.float32)
    rows, cols = np.meshgrid(np.arange(LOL_H), np.arange(LOL_W), indexing="ij")
    pattern = (rows * 1000 + cols).astype(np.float32)  # exact in float32: 399 * 1000 + 599 < 2**24
    views["high_r"][n - 1] = pattern[..., None] + np.float32([0, 0.25, 0.5])
    sampler = patches.PatchSampler(views, np.array([[LOL_H, LOL_W]] * n, np.int32), batch_size=4, patch_size=p,
                                   num_modes=8, seed=5)
    # The crop's corner is the smallest value of the patch (row-major pattern), whatever the mode.
    _check_last_image_patch(sampler, n, "high_r", lambda patch: divmod(int(patch[..., 0].min()), 1000),
                            lambda r0, c0: views["high_r"][n - 1, r0:r0 + p, c0:c0 + p])


def test_patches_from_a_stack_of_more_than_2_31_elements():
    # 1500 8-bit pairs of 600x400 (stage 1's stack, 2.16e9 uint8 elements): gather_nd refuses int32
    # indices past 2**31 - 1 elements ("too large for int32 indexing"), so the sampler uses int64 there.
    n, p = 1500, 64
    views = patches.channel_stack(n, LOL_H, LOL_W, {"low": 3, "high": 3}, np.uint8)
    assert sum(v.size for v in views.values()) > 2**31
    rows, cols = np.meshgrid(np.arange(LOL_H), np.arange(LOL_W), indexing="ij")
    # Position in the pixel: row // 8, col // 8, then the remainders (all below 256).
    views["high"][n - 1] = np.stack([rows // 8, cols // 8, (rows % 8) * 8 + cols % 8], -1).astype(np.uint8)
    # (lo, range) = (0, 1): patches are the 8-bit values / 255.
    scales = {k: np.tile(np.float32([0.0, 1.0]), (n, 1)) for k in views}
    sampler = patches.PatchSampler(views, np.array([[LOL_H, LOL_W]] * n, np.int32), batch_size=4, patch_size=p,
                                   num_modes=8, seed=5, scales=scales)

    def corner(patch):
        v = np.rint(patch * 255.0).astype(int)
        pos = (v[..., 0] * 8 + v[..., 2] // 8) * 1000 + v[..., 1] * 8 + v[..., 2] % 8
        return divmod(int(pos.min()), 1000)

    _check_last_image_patch(sampler, n, "high", corner,
                            lambda r0, c0: views["high"][n - 1, r0:r0 + p, c0:c0 + p].astype(np.float32) / 255.0)


def test_stack_padded_counts_in_python_ints(monkeypatch):
    # stack_padded hands channel_stack Python ints, not the int32 of its sizes array.
    seen = {}
    real = patches.channel_stack

    def spy(n, h, w, channels, dtype):
        seen.update(n=n, h=h, w=w)
        return real(n, h, w, channels, dtype)

    monkeypatch.setattr(patches, "channel_stack", spy)
    arrays, sizes = patches.stack_padded({"a": [np.ones((3, 5, 2), np.float32), np.ones((4, 2, 2), np.float32)]})
    assert all(type(seen[k]) is int for k in "nhw") and (seen["h"], seen["w"]) == (4, 5)
    assert arrays["a"].shape == (2, 4, 5, 2) and arrays["a"][1, 3, 1, 0] == 1 and arrays["a"][1, 3, 2, 0] == 0
    assert sizes.tolist() == [[3, 5], [4, 2]]


_LINE = re.compile(r"epoch \[(\d+)/\d+\] step \[(\d+)/(\d+)\] loss ([0-9.eE+-]+|nan|inf)")


def _train(stage_name, data_dir, folder, **settings):
    """Train one stage in-process; returns (the logged loss of every step, in order, the config)."""
    from kind_tf2.training import engine, stages

    lines = []
    cfg = engine.TrainConfig(data_dir=data_dir, checkpoint_dir=str(folder), log_every=1, eval_every=10**6,
                             export_tf1=False, **settings)
    engine.train(stages.STAGES[stage_name](), cfg, log=lines.append)
    losses = [float(m.group(4)) for m in map(_LINE.search, lines) if m]
    return losses, lines, cfg


def _falls(stage_name, losses, cfg, k=6):
    """Finite losses, and the trained network's loss on the first k batches below what was logged on them.

    A step's logged loss is taken before its update, so steps 1..k show (nearly) the initial
    network. Per-step losses of different batches are too noisy to compare over a few dozen steps
    (restoration: 0.48-0.81 at 96 px); the same batches again (the sampler is a function of the
    step) are not.
    """
    import tensorflow as tf

    from kind_tf2 import checkpoints
    from kind_tf2.training import engine, stages

    assert np.all(np.isfinite(losses)), losses
    stage = stages.STAGES[stage_name]()
    trainer = engine.Trainer(stage, cfg)
    checkpoints.load_network_weights(trainer.model, cfg.checkpoint_dir)
    data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, lambda line: None, decom_cache=cfg.decom_cache)
    sampler = patches.PatchSampler(data.arrays, data.sizes, cfg.batch_size, cfg.patch_size, stage.num_modes,
                                   cfg.seed, reshuffle=stage.reshuffle, names=data.names, scales=data.scales)
    after = [float(stage.loss(trainer.model, stage.transform(sampler.batch(tf.constant(s))), trainer.objective)[0])
             for s in range(k)]
    before = losses[:k]
    assert np.mean(after) < np.mean(before), f"loss did not fall on steps 1..{k}: logged {before}, trained {after}"
    return before, after


@pytest.fixture(scope="module")
def decom_cache(tmp_path_factory):
    # Stages 2 and 3 decompose the same 120 images with the released DecomNet: once for both.
    return str(tmp_path_factory.mktemp("decomposed"))


def test_decomposition_trains_on_real_lol(real_lol, tmp_path):
    # 60 pairs, batch 10: 6 steps an epoch.
    losses, _, cfg = _train("decomposition", real_lol, tmp_path, epochs=5, batch_size=10, patch_size=48)
    assert len(losses) == 30
    _falls("decomposition", losses, cfg)


def test_illumination_trains_on_real_lol(real_lol, ref, decom_cache, tmp_path):
    decom = os.path.join(ref, "checkpoints", "decom_net_train")
    losses, lines, cfg = _train("illumination", real_lol, tmp_path, epochs=6, batch_size=10, patch_size=48,
                                decom_checkpoint=decom, decom_cache=decom_cache)
    assert "illumination split: train 55 images" in "\n".join(lines)  # [0:450] of 485, scaled to 60
    assert len(losses) == 30
    _falls("illumination", losses, cfg)


def test_restoration_trains_on_real_lol(real_lol, ref, decom_cache, tmp_path):
    # Full 600x400 images (stacked at their real size), small patches to keep the test short.
    decom = os.path.join(ref, "checkpoints", "decom_net_train")
    losses, lines, cfg = _train("restoration", real_lol, tmp_path, epochs=2, batch_size=4, patch_size=96,
                                decom_checkpoint=decom, decom_cache=decom_cache)
    assert "restoration split: train 57 images" in "\n".join(lines)
    assert len(losses) == 28
    _falls("restoration", losses, cfg)


def _psnr_of_files(out_png, gt_png):
    # An independent PSNR: the saved 8-bit output against the stored 8-bit ground truth.
    a = np.asarray(Image.open(out_png).convert("RGB"), np.float64)
    b = np.asarray(Image.open(gt_png).convert("RGB"), np.float64)
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


@pytest.mark.parametrize("protocol", ["gt_ratio", "fixed_ratio", "gt_mean"])
def test_evaluate_py_on_eval15_under_every_protocol(real_lol, ref, protocol, tmp_path):
    # The script as a user runs it, with the reference checkpoints (their Restoration_net is random-initialised).
    import subprocess
    import sys

    from kind_tf2 import evaluation

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    low, high = (os.path.join(real_lol, "eval15", s) for s in ("low", "high"))
    proc = subprocess.run([sys.executable, "evaluate.py", f"--input_dir={low}", f"--high_dir={high}",
                           f"--output_dir={tmp_path}", f"--protocol={protocol}",
                           f"--checkpoint_dir={os.path.join(ref, 'checkpoints')}"],
                          cwd=repo, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "done: 15 of 15 image(s) enhanced" in proc.stdout
    doc = json.load(open(tmp_path / "metrics.json"))
    assert doc["protocol"] == protocol and len(doc["images"]) == 15
    for row in doc["images"]:
        stem = os.path.splitext(row["image"])[0]
        assert np.isfinite([row[k] for k in evaluation.METRIC_NAMES]).all()
        # The numbers are recomputable from the saved PNG and the ground truth.
        assert _psnr_of_files(tmp_path / f"{stem}_kindle.png", os.path.join(high, row["image"])) == \
            pytest.approx(row["psnr"], abs=1e-9)
    assert (tmp_path / "comparison_grid.png").is_file()


def test_released_networks_without_restoration_on_eval15(real_lol, ref, tmp_path):
    # ../shared/lol/README.md measured, released DecomNet + Illumination_adjust_net, ratio from the
    # ground truth and no restoration (R_low x L_hat): PSNR 18.33 dB, SSIM 0.605 on eval15.
    import tensorflow as tf

    from kind_tf2 import evaluation, image_io, image_ops
    from kind_tf2.pipeline import KinD

    kind = KinD.from_checkpoint(os.path.join(ref, "checkpoints"), restoration="none")
    assert kind.sources["Restoration_net"] == "none"
    low, high = (os.path.join(real_lol, "eval15", s) for s in ("low", "high"))
    out = str(tmp_path)
    cfg = evaluation.EvalConfig(input_dir=low, high_dir=high, output_dir=out, protocol="gt_ratio", grid=False)
    assert evaluation.evaluate(cfg, log=lambda line: None, kind=kind).ok
    doc = json.load(open(os.path.join(out, "metrics.json")))
    assert doc["mean"]["psnr"] == pytest.approx(18.33, abs=0.005)
    assert doc["mean"]["ssim_rgb"] == pytest.approx(0.605, abs=0.0005)
    # One image by hand: R of the low image times L_hat at the ground truth's ratio.
    x = image_io.load_image(os.path.join(low, "1.png"))[None]
    h = image_io.load_image(os.path.join(high, "1.png"))[None]
    r, i = kind.decom(x, training=False)
    _, i_high = kind.decom(h, training=False)
    ratio = tf.reduce_mean(i_high / (i + 0.0001))
    expected = image_ops.to_uint8((r * kind.illumination(i, tf.ones_like(i) * ratio, training=False))[0]).numpy()
    saved = np.asarray(Image.open(os.path.join(out, "1_kindle.png")))
    assert np.abs(saved.astype(int) - expected.astype(int)).max() <= 1

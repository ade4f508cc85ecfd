"""The DecomNet output cache of stages 2 and 3: same values, reused only for the same weights, images and runtime."""

import os

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import checkpoints, image_io, models
from kind_tf2.cli.flags import decom_cache_dir
from kind_tf2.data import decomposed, lol, synthesize
from kind_tf2.training import engine, stages


@pytest.fixture()
def data(tmp_path):
    return synthesize.synthesize(str(tmp_path / "lol"), train=8, eval_count=2, height=48, width=64)


def _train(stage, data, folder, cache, decom, lines):
    cfg = engine.TrainConfig(data_dir=data, checkpoint_dir=str(folder), decom_checkpoint=decom, epochs=2,
                             batch_size=2, patch_size=32, eval_every=100, export_tf1=False, deterministic=True,
                             decom_cache=str(cache))
    engine.train(stage, cfg, log=lines.append)
    net = models.build_network(stage.scope)
    net.load_weights(checkpoints.weights_file(str(folder), stage.scope))
    return checkpoints.network_tensors(net)


@pytest.mark.parametrize("stage_cls", [stages.Illumination, stages.Restoration])
def test_second_run_reads_the_cache_and_trains_the_same_weights(ref, data, tmp_path, stage_cls):
    decom = os.path.join(ref, "checkpoints", "decom_net_train")
    cache = tmp_path / "cache"
    first, second = [], []
    a = _train(stage_cls(), data, tmp_path / "a", cache, decom, first)
    b = _train(stage_cls(), data, tmp_path / "b", cache, decom, second)
    assert any(line.startswith("decomposition cached in") for line in first)
    assert not any("read from the cache" in line for line in first)
    assert any("read from the cache" in line for line in second)
    assert not any(line.startswith("decomposed 8/8") for line in second)  # DecomNet did not run
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_cached_values_are_the_networks_outputs_and_the_key_follows_the_images(ref, data, tmp_path):
    decom_dir = os.path.join(ref, "checkpoints", "decom_net_train")
    lines = []
    stages.Illumination().prepare(data, decom_dir, lines.append, decom_cache=str(tmp_path / "cache"))
    (key,) = os.listdir(tmp_path / "cache")
    assert sorted(os.listdir(tmp_path / "cache" / key)) == ["i_high.npz", "i_low.npz"]  # no R for stage 2
    # Independently: the reference DecomNet on the first low image.
    net = models.build_network(models.DECOM_SCOPE)
    checkpoints.load_network_weights(net, decom_dir)
    pairs = lol.pair_files(os.path.join(data, "our485"))
    _, i_low = net(image_io.load_image(pairs[0][1])[None], training=False)
    with np.load(tmp_path / "cache" / key / "i_low.npz") as z:
        assert len(z.files) == len(pairs)
        np.testing.assert_array_equal(z["arr_0"], i_low[0].numpy())

    # One changed pixel in one image: another key, computed again.
    path = pairs[3][2]
    pixels = np.array(Image.open(path))
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(path)
    lines.clear()
    stages.Illumination().prepare(data, decom_dir, lines.append, decom_cache=str(tmp_path / "cache"))
    assert len(os.listdir(tmp_path / "cache")) == 2 and any(line.startswith("decomposition cached") for line in lines)

    # An unreadable entry is named and recomputed, never trusted.
    (newest,) = set(os.listdir(tmp_path / "cache")) - {key}
    broken = tmp_path / "cache" / newest / "i_high.npz"
    broken.write_bytes(b"not an npz")
    lines.clear()
    stages.Illumination().prepare(data, decom_dir, lines.append, decom_cache=str(tmp_path / "cache"))
    assert any(line.startswith(f"warning: cached decomposition {broken} is unreadable") for line in lines)
    assert any(line.startswith("decomposed 8/8 high images") for line in lines)


def test_default_location_and_none(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert decomposed.default_cache_dir() == os.path.join(str(tmp_path), "kind_tf2", "decomposed")
    assert decom_cache_dir("default") == decomposed.default_cache_dir()
    assert decom_cache_dir("none") is None and decom_cache_dir("/x") == "/x"

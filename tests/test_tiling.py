"""Tiled inference: measured receptive fields, aligned tiles, and outputs equal to the whole image's."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from PIL import Image

from kind_tf2 import image_io, image_ops, models, tiling
from kind_tf2.errors import ConfigError

ATOL = 1e-5


# ---- the receptive field, measured and derived independently ----------------------------------


def _conv(iv, k=3):
    return iv[0] - (k - 1) // 2, iv[1] + (k - 1) // 2


def _pool(iv):  # 2x2 stride-2 cells [a, b] -> the finer positions they cover
    return 2 * iv[0], 2 * iv[1] + 1


def _up(iv):  # 2x2 stride-2 transposed convolution: fine position y reads coarse cell y // 2
    return iv[0] // 2, iv[1] // 2


def _union(a, b):
    return min(a[0], b[0]), max(a[1], b[1])


def _restoration_support(y):
    # 1-D input interval that output y of Restoration_net reads: 5 encoder levels of two 3x3 convs,
    # 4 decoder levels of (transposed conv of the level below, concat skip, two 3x3 convs), 3x3 out.
    def enc(iv, level):
        iv = _conv(_conv(iv))
        return iv if level == 0 else enc(_pool(iv), level - 1)

    def dec(iv, level):
        iv = _conv(_conv(iv))
        deeper = dec(_up(iv), level + 1) if level < 3 else enc(_up(iv), 4)
        return _union(enc(iv, level), deeper)

    return dec(_conv((y, y)), 0)


def _decom_support(y):
    # DecomNet_simple: conv1 (full), conv2 (1/2), conv3 (1/4), two up+concat+conv, 1x1 heads; I
    # also reads conv1 through one more 3x3 conv.
    def conv1(iv):
        return _conv(iv)

    def conv2(iv):
        return conv1(_pool(_conv(iv)))

    def conv3(iv):
        return conv2(_pool(_conv(iv)))

    def conv8(iv):
        iv = _conv(iv)
        return _union(conv3(_up(iv)), conv2(iv))

    def conv9(iv):
        iv = _conv(iv)
        return _union(conv8(_up(iv)), conv1(iv))

    return _union(conv9((y, y)), conv1(_conv((y, y))))


def _block_margin(support, start=160):
    lo = min(support(y)[0] for y in range(start, start + 16))
    hi = max(support(y)[1] for y in range(start, start + 16))
    return max(start - lo, hi - (start + 15))


@pytest.fixture(scope="module")
def random_nets():
    import keras

    keras.utils.set_random_seed(7)
    return {scope: models.build_network(scope) for scope in models.NETWORKS}


def _measure(decom, restoration, illumination):
    return {
        models.DECOM_SCOPE: tiling.measure_receptive_margin(lambda x: tf.concat(decom(x), 3), [3], 64, batch=2),
        models.RESTORATION_SCOPE: tiling.measure_receptive_margin(restoration, [3, 1], 240, batch=2),
        models.ILLUMINATION_SCOPE: tiling.measure_receptive_margin(illumination, [1, 1], 48, batch=2),
    }


def test_receptive_margins_are_measured_and_match_the_architecture(kind, random_nets):
    declared = {scope: cls.receptive_margin for scope, cls in models.NETWORKS.items()}
    derived = {models.DECOM_SCOPE: _block_margin(_decom_support),
               models.RESTORATION_SCOPE: _block_margin(_restoration_support),
               models.ILLUMINATION_SCOPE: 4}  # four 3x3 convolutions
    assert derived == declared
    assert _measure(kind.decom, kind.restoration, kind.illumination) == declared
    r = random_nets
    assert _measure(r[models.DECOM_SCOPE], r[models.RESTORATION_SCOPE], r[models.ILLUMINATION_SCOPE]) == declared


def test_measure_refuses_an_image_too_small_for_the_field(kind):
    with pytest.raises(ValueError, match="size 96 is too small"):
        tiling.measure_receptive_margin(kind.restoration, [3, 1], 96, batch=1)


# ---- tiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("length,tile,margin", [(400, 128, 96), (397, 144, 16), (16, 16, 16), (1000, 512, 96)])
def test_spans_cover_the_axis_once_with_aligned_windows(length, tile, margin):
    spans = tiling.spans(length, tile, margin)
    covered = np.zeros(length, int)
    for s in spans:
        covered[s.core] += 1
        assert s.window.start % 16 == 0
        assert s.window.start == max(0, s.core.start - margin) and s.window.stop == min(length, s.core.stop + margin)
        assert s.crop.stop - s.crop.start == s.core.stop - s.core.start
    assert (covered == 1).all()


@pytest.mark.parametrize("value,height,width,want", [
    ("auto", 600, 800, None), ("auto", 1080, 1920, 512), ("auto", 3000, 4000, 512), ("none", 3000, 4000, None), ("0", 50, 50, None),
    (None, 3000, 4000, None), ("512", 3000, 4000, 512), (256, 3000, 4000, 256), (512, 400, 500, None),
])
def test_resolve_tile(value, height, width, want):
    assert tiling.resolve_tile(value, height, width) == want


@pytest.mark.parametrize("value", ["300", 8, -16, "big", "512.5"])
def test_bad_tile_sizes_are_refused(value):
    with pytest.raises(ValueError, match="tile="):
        tiling.parse_tile(value)


# ---- tiled == whole ---------------------------------------------------------------------------


def _mosaic(ref, height, width):
    # The reference images, flipped in turn, side by side until height x width; stretched whole.
    names = ("1.png", "22.png", "04.JPG", "4.bmp")
    tiles = [image_io.read_rgb(os.path.join(ref, "images", n)) for n in names]
    rows, y, k = [], 0, 0
    while y < height:
        row, x = [], 0
        while x < width:
            t = tiles[k % 4]
            t = t[:, ::-1] if k % 2 else t
            row.append(t[:400])
            x += t.shape[1]
            k += 1
        rows.append(np.concatenate(row, axis=1)[:, :width])
        y += 400
    return image_ops.stretch(np.concatenate(rows, axis=0)[:height]).numpy()[None]


def _assert_tiled_equals_whole(kind, x, tiles):
    high = np.clip(x ** 0.45, 0.0, 1.0).astype(np.float32)  # a brighter "ground truth" for gt_ratio
    for protocol, kwargs in (("fixed_ratio", {"ratio": 5.0}), ("gt_ratio", {"high": high})):
        whole = {k: v.numpy() for k, v in kind.enhance(x, return_all=True, **kwargs).items()}
        for tile in tiles:
            tiled = kind.enhance(x, return_all=True, tile=tile, **kwargs)
            assert sorted(tiled) == sorted(whole)
            for key, value in whole.items():
                diff = float(np.max(np.abs(tiled[key].numpy() - value)))
                assert diff <= ATOL, f"{protocol}, tile {tile}, {key}: max |diff| {diff}"


def test_tiled_equals_whole_on_an_odd_sized_image(kind, ref):
    x = image_io.load_image(os.path.join(ref, "images", "22.png"))[None, :397, :583]
    _assert_tiled_equals_whole(kind, x, (128,))


@pytest.mark.parametrize("network,output,floor", [("decom", "R", 0.1), ("restoration", "restored_R", 3e-5)])
def test_tiles_without_margin_show_seams(kind, ref, monkeypatch, network, output, floor):
    # The check above can fail: without context at tile borders the outputs move. (The reference
    # Restoration_net is random-initialised and reads its far context weakly: 32-px margins already
    # stay within 1e-5 there. That the margins cover the field is what the measurement above shows.)
    x = image_io.load_image(os.path.join(ref, "images", "22.png"))[None]
    whole = kind.enhance(x, return_all=True)[output].numpy()
    monkeypatch.setattr(getattr(kind, network), "receptive_margin", 0)
    assert np.max(np.abs(kind.enhance(x, tile=128, return_all=True)[output].numpy() - whole)) > floor


def test_progress_counts_every_tile(kind, ref):
    x = image_io.load_image(os.path.join(ref, "images", "4.bmp"))[None]  # 415 x 370
    calls = []
    kind.enhance(x, tile=256, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 8) for k in range(1, 9)]  # 2 x 2 tiles, two passes


def test_evaluate_tile_flag(kind, ref, tmp_path):
    from kind_tf2 import evaluation

    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(os.path.join(ref, "images", "22.png")).save(inp / "22.png")
    lines, errors = [], []
    cfg = evaluation.EvalConfig(input_dir=str(inp), output_dir=str(tmp_path / "out"), tile=128)
    assert evaluation.evaluate(cfg, log=lines.append, warn=errors.append, kind=kind).ok, errors
    assert any("128-px tiles, 20 per pass" in line for line in lines)
    ours = np.asarray(Image.open(tmp_path / "out" / "22_kindle.png")).astype(int)
    want = np.asarray(Image.open(os.path.join(ref, "outputs", "png_test", "22_kindle.png"))).astype(int)
    diff = np.abs(ours - want)
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999
    cfg.tile = "100"
    with pytest.raises(ConfigError, match="^tile=100: .*multiple of 16") as raised:
        evaluation.evaluate(cfg, log=lines.append, warn=errors.append, kind=kind)
    assert raised.value.fields == ("tile",)


# The big images run in a child with TensorFlow's default CPU kernels: with oneDNN on (as conftest
# sets it for parity), this AMD CPU takes minutes per convolution on a whole image of about 1 MP or more.
_DEFAULT_KERNELS = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0")


def _tiled_equals_whole_child(ref):
    import kind_tf2

    kind = kind_tf2.KinD.from_checkpoint(os.path.join(ref, "checkpoints"))
    _assert_tiled_equals_whole(kind, _mosaic(ref, 2000, 3000), (256, 512))
    print("tiled == whole on 2000x3000 (tiles 256, 512; fixed_ratio, gt_ratio)")


@pytest.mark.slow
def test_tiled_equals_whole_on_2000x3000(ref):
    code = f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import test_tiling; " \
           f"test_tiling._tiled_equals_whole_child({ref!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO,
                          env=_DEFAULT_KERNELS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tiled == whole on 2000x3000" in proc.stdout


@pytest.mark.slow
def test_evaluate_tile_auto_on_4000x3000_stays_under_4_gib(ref, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    pixels = image_ops.to_uint8(_mosaic(ref, 3000, 4000)[0] * 0.3).numpy()  # dark again
    Image.fromarray(pixels).save(inp / "big.png", compress_level=1)
    # A parent of its own, so that RUSAGE_CHILDREN covers evaluate.py alone.
    probe = (
        "import resource, subprocess, sys; "
        "rc = subprocess.run(sys.argv[1:]).returncode; "
        "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, os.path.join(REPO, "evaluate.py"), f"--input_dir={inp}",
         f"--output_dir={tmp_path / 'out'}", f"--checkpoint_dir={ref}/checkpoints", "--tile=auto"],
        capture_output=True, text=True, check=False, cwd=REPO, env=_DEFAULT_KERNELS,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak_gib = int(proc.stdout.split("peak_rss_kib")[-1]) / 2**20
    print(f"evaluate.py --tile=auto, 4000x3000: peak RSS {peak_gib:.2f} GiB")
    assert "512-px tiles, 48 per pass" in proc.stdout
    assert Image.open(tmp_path / "out" / "big_kindle.png").size == (4000, 3000)
    assert peak_gib < 4.0

"""LOL pairing and splits, and the deterministic patch sampler."""

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import image_io
from kind_tf2.data import lol
from kind_tf2.data.patches import PatchSampler


def _img(path, h=4, w=5, value=10):
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def test_pairs_by_name_and_lists_offenders(tmp_path):
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for name in ("1.png", "2.png", "10.png"):
        _img(tmp_path / "low" / name)
    for name in ("1.png", "10.png", "79.png"):
        _img(tmp_path / "high" / name)
    with pytest.raises(lol.DatasetError, match=r"only in low/: \['2.png'\]; only in high/: \['79.png'\]"):
        lol.pair_files(str(tmp_path))
    (tmp_path / "low" / "2.png").unlink()
    _img(tmp_path / "low" / "79.png", h=6)
    pairs = lol.pair_files(str(tmp_path))
    assert [p[0] for p in pairs] == ["1.png", "10.png", "79.png"]
    with pytest.raises(lol.DatasetError, match="79.png"):
        lol.load_pairs(pairs)


def test_pair_images_come_one_at_a_time_lows_then_highs_and_sizes_are_checked_first(tmp_path, monkeypatch):
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for k, name in enumerate(("1.png", "2.png", "3.png")):
        _img(tmp_path / "low" / name, value=10 + k)
        _img(tmp_path / "high" / name, value=100 + k)
    pairs = lol.pair_files(str(tmp_path))
    images = lol.iter_pair_images(pairs)
    got = list(images)
    expected = [image_io.load_image(p[1]) for p in pairs] + [image_io.load_image(p[2]) for p in pairs]
    assert len(got) == 6 and all(np.array_equal(a, b) for a, b in zip(got, expected))
    # A size mismatch is found from the headers, before any image is decoded.
    _img(tmp_path / "high" / "3.png", h=6)
    monkeypatch.setattr(image_io, "load_image", lambda path: pytest.fail(f"decoded {path}"))
    with pytest.raises(lol.DatasetError, match=r"3.png \(low \(4, 5\), high \(6, 5\)\)"):
        lol.iter_pair_images(pairs)


def test_original_split_indices_and_small_sets():
    assert lol.original_split(485, 0, 450) == list(range(450))
    assert lol.original_split(485, 451, 480) == list(range(451, 480))
    assert lol.original_split(6, 0, 450) == [0, 1, 2, 3, 4]
    assert lol.original_split(6, 451, 480) == [5]
    assert lol.original_split(1, 0, 466) == [0] and lol.original_split(1, 467, 480) == [0]


def _sampler(**kw):
    rng = np.random.default_rng(0)
    arrays = {"a": rng.random((5, 20, 24, 3), np.float32), "b": rng.random((5, 20, 24, 1), np.float32)}
    args = dict(batch_size=3, patch_size=8, num_modes=8, seed=11)
    args.update(kw)
    return arrays, PatchSampler(arrays, [(20, 24)] * 5, **args)


def test_sampler_is_a_function_of_seed_and_step():
    arrays, s = _sampler()
    b1, b2 = s.batch(7), _sampler()[1].batch(7)
    for k in b1:
        np.testing.assert_array_equal(b1[k], b2[k])
    assert not np.array_equal(_sampler(seed=12)[1].batch(7)["a"], b1["a"])
    # Resuming at step 4 yields the same batches as steps 4.. of a full run.
    full = [x["a"].numpy() for x in s.dataset(0, 6)]
    resumed = [x["a"].numpy() for x in s.dataset(4, 6)]
    np.testing.assert_array_equal(full[4:], resumed)


def test_sampler_cycles_in_order_then_reshuffles_and_aligns_keys():
    arrays, s = _sampler()
    idx = np.concatenate([s.batch(k)["index"].numpy() for k in range(5)])  # 15 patches = 3 passes
    assert list(idx[:5]) == [0, 1, 2, 3, 4]
    assert sorted(idx[5:10]) == [0, 1, 2, 3, 4] and sorted(idx[10:15]) == [0, 1, 2, 3, 4]
    _, no_shuffle = _sampler(reshuffle=False)
    assert list(np.concatenate([no_shuffle.batch(k)["index"].numpy() for k in range(5)])) == list(range(5)) * 3
    b = s.batch(2)
    # a and b were cropped and augmented together: find each patch of b inside its source image.
    for j in range(3):
        src = arrays["b"][b["index"][j]]
        mode = int(b["mode"][j])
        aug = np.rot90(src, mode // 2)
        aug = np.flipud(aug) if mode % 2 else aug
        patch = b["b"][j].numpy()
        hits = [(y, x) for y in range(aug.shape[0] - 7) for x in range(aug.shape[1] - 7)
                if np.array_equal(aug[y:y + 8, x:x + 8], patch)]
        assert hits, f"patch {j} not found in image {int(b['index'][j])}"


def test_illumination_modes_are_0_to_6():
    _, s = _sampler(num_modes=7)
    modes = np.concatenate([s.batch(k)["mode"].numpy() for k in range(200)])
    assert modes.min() == 0 and modes.max() == 6


def test_small_images_are_refused_by_name():
    with pytest.raises(ValueError, match="tiny.png"):
        PatchSampler({"a": np.zeros((1, 4, 4, 3), np.float32)}, [(4, 4)], 1, 8, 8, 0, names=["tiny.png"])


def test_8bit_stack_gives_the_float_patches_of_load_image(tmp_path):
    # LOL is 8-bit: the sampler keeps it as uint8 and stretches each patch. Its batches must be
    # the float32 patches cut from `image_io.load_image` arrays, bit for bit, through tf.data.
    rng = np.random.default_rng(3)
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for k, (h, w) in enumerate([(30, 40), (33, 37), (30, 40)]):
        for sub, top in (("low", 60), ("high", 255)):
            pixels = rng.integers(3 * k, top, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / sub / f"{k}.png")
    pairs = lol.pair_files(str(tmp_path))
    arrays, sizes, scales = lol.load_pair_stack(pairs)
    assert arrays["low"].dtype == np.uint8 and scales is not None
    lows, highs = lol.load_pairs(pairs)
    floats = np.zeros(arrays["low"].shape[:3] + (6,), np.float32)
    for k, (low, high) in enumerate(zip(lows, highs)):
        floats[k, : low.shape[0], : low.shape[1]] = np.concatenate([low, high], axis=-1)
        # the 8-bit pixels themselves, zero-padded
        for key, path in (("low", pairs[k][1]), ("high", pairs[k][2])):
            want = np.zeros(arrays[key].shape[1:], np.uint8)
            pixels = np.asarray(Image.open(path))
            want[: pixels.shape[0], : pixels.shape[1]] = pixels
            np.testing.assert_array_equal(arrays[key][k], want)
    args = dict(batch_size=4, patch_size=16, num_modes=8, seed=5)
    raw = PatchSampler(arrays, sizes, scales=scales, **args)
    ref = PatchSampler({"low": floats[..., :3], "high": floats[..., 3:]}, sizes, **args)
    for got, want in zip(raw.dataset(0, 8), ref.dataset(0, 8)):
        for key in ("low", "high"):
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key].numpy(), want[key].numpy())


def test_a_16bit_image_makes_the_whole_stack_float32(tmp_path):
    # One 16-bit image, early (8-bit ones still queued in the decoding threads), and every image
    # comes out as the float32 of `load_image`.
    rng = np.random.default_rng(5)
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for k in range(12):
        for sub in ("low", "high"):
            path = tmp_path / sub / f"{k:02d}.png"
            if (k, sub) == (1, "high"):
                Image.fromarray(rng.integers(0, 65535, (20, 24), dtype=np.uint16)).save(path)  # mode I;16
            else:
                Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(path)
    pairs = lol.pair_files(str(tmp_path))
    lines = []
    arrays, sizes, scales = lol.load_pair_stack(pairs, log=lines.append)
    assert scales is None and arrays["low"].dtype == arrays["high"].dtype == np.float32
    assert any("01.png is not 8-bit RGB" in line for line in lines)
    for k, (_, low_path, high_path) in enumerate(pairs):
        np.testing.assert_array_equal(arrays["low"][k], image_io.load_image(low_path))
        np.testing.assert_array_equal(arrays["high"][k], image_io.load_image(high_path))


def test_host_stack_takes_tiling_views_whole_and_assembles_anything_else():
    from kind_tf2.data import patches

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (3, 5, 7, 6), dtype=np.uint8)
    whole = patches._whole_of_views([base[..., :3], base[..., 3:]])
    assert whole.shape == base.shape and whole.ctypes.data == base.ctypes.data
    np.testing.assert_array_equal(whole, base)
    assert patches._whole_of_views([base[..., 3:], base[..., :3]]) is None  # out of order
    assert patches._whole_of_views([base[..., :2], base[..., 3:]]) is None  # a gap
    assert patches._whole_of_views([base[::2, ..., :3], base[::2, ..., 3:]]) is None  # every other image
    assert patches._whole_of_views([base[:, :3, :, :3], base[:, :3, :, 3:]]) is None  # rows cut
    separate = [base[..., :3].copy(), base[..., 3:].copy()]
    assert patches._whole_of_views(separate) is None
    assert patches._whole_of_views([base[1:, ..., :3], base[1:, ..., 3:]]) is not None  # a later block is whole too
    for parts in ([base[..., :3], base[..., 3:]], separate, [base[..., 3:], base[..., :3]]):
        np.testing.assert_array_equal(patches._host_stack(parts).numpy(), np.concatenate(parts, axis=-1))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_channel_stack_becomes_the_sampler_variable_without_a_copy(dtype):
    import tensorflow as tf

    from kind_tf2.data import patches

    views = patches.channel_stack(3, 5, 7, {"a": 3, "b": 1, "c": 2}, dtype)
    assert [v.shape for v in views.values()] == [(3, 5, 7, 3), (3, 5, 7, 1), (3, 5, 7, 2)]
    assert all(v.dtype == dtype and not v.any() for v in views.values())
    rng = np.random.default_rng(1)
    for v in views.values():
        v[...] = rng.integers(0, 255, v.shape)
    want = np.concatenate(list(views.values()), axis=-1)
    stack = patches._host_stack(list(views.values()))
    np.testing.assert_array_equal(stack.numpy(), want)
    # The variable's buffer is the aligned numpy memory itself.
    start = views["a"].__array_interface__["data"][0]
    assert start % 64 == 0
    class Exported:  # what np.from_dlpack takes: the capsule TensorFlow exports, on the CPU (kDLCPU = 1)
        def __dlpack__(self, **kwargs):
            return tf.experimental.dlpack.to_dlpack(stack.read_value())

        def __dlpack_device__(self):
            return 1, 0

    shared = np.from_dlpack(Exported())
    assert shared.__array_interface__["data"][0] == start
    # Patches cut from it are the pixels (TensorFlow aborts on a misaligned buffer).
    sampler = PatchSampler(views, [(5, 7)] * 3, batch_size=2, patch_size=4, num_modes=8, seed=0)
    batch = sampler.batch(0)
    assert batch["a"].shape == (2, 4, 4, 3) and batch["c"].shape == (2, 4, 4, 2)


def test_threaded_decoding_keeps_file_order_and_names_a_broken_file(tmp_path):
    # More files than the decoders look ahead (2 threads x 4), of distinct sizes, so any
    # reordering shows; load_pairs must equal load_image file by file.
    rng = np.random.default_rng(4)
    paths = []
    for k in range(11):
        path = tmp_path / f"{k:02d}.png"
        Image.fromarray(rng.integers(0, 255, (5 + k, 7, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    decoded = list(lol._in_threads(image_io.read_raw, paths, workers=2, ahead=4))
    assert [d[0].shape[0] for d in decoded] == [5 + k for k in range(11)]
    for (pixels, peak), path in zip(decoded, paths):
        assert peak == 255
        np.testing.assert_array_equal(pixels, np.asarray(Image.open(path).convert("RGB")))
    pairs = [(str(k), paths[k], paths[k]) for k in range(11)]
    lows, highs = lol.load_pairs(pairs)
    for k, path in enumerate(paths):
        np.testing.assert_array_equal(lows[k], image_io.load_image(path))
        np.testing.assert_array_equal(highs[k], image_io.load_image(path))
    (tmp_path / "06.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ValueError, match="06.png: not a readable image"):
        list(lol._in_threads(image_io.read_raw, paths, workers=2, ahead=4))

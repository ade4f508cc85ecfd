"""evaluate.py: parity of its PNGs with the original's, metrics files, and every bad-input case."""

import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from kind_tf2 import evaluation, image_io
from kind_tf2.errors import ConfigError, RegistryError


def _agreement(ours_path, ref_path):
    ours = np.asarray(Image.open(ours_path)).astype(int)
    want = np.asarray(Image.open(ref_path)).astype(int)
    assert ours.shape == want.shape
    diff = np.abs(ours - want)
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, f"{ours_path}: {(diff != 0).sum()} pixels differ"


def _cli(*args):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "evaluate.py"), *args],
                          capture_output=True, text=True, check=False, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_reference_images_equal_original_pngs(ref, tmp_path):
    out = tmp_path / "out"
    rc, stdout, stderr = _cli(f"--input_dir={ref}/images", f"--output_dir={out}", f"--checkpoint_dir={ref}/checkpoints")
    assert rc == 0, stderr
    for stem in ("4", "22", "04"):
        _agreement(out / f"{stem}_kindle.png", os.path.join(ref, "outputs", "png_test", f"{stem}_kindle.png"))
    assert "[4/4]" in stdout and (out / "comparison_grid.png").is_file()
    # No ground truth: the no-reference metrics of every output and its input (issue 22).
    assert (out / "metrics.csv").read_text().splitlines()[0] == "image,niqe,brisque,niqe_input,brisque_input"


def test_cli_with_ground_truth_equals_original_and_writes_metrics(ref, tmp_path):
    low = tmp_path / "low"
    low.mkdir()
    for stem in ("1", "22"):
        shutil.copy(os.path.join(ref, "images", f"{stem}.png"), low)
    out = tmp_path / "out"
    rc, stdout, stderr = _cli(f"--input_dir={low}", f"--output_dir={out}", f"--checkpoint_dir={ref}/checkpoints",
                              f"--high_dir={ref}/outputs/png_lol/high")
    assert rc == 0, stderr
    for stem in ("1", "22"):
        _agreement(out / f"{stem}_kindle.png", os.path.join(ref, "outputs", "png_lol", f"{stem}_kindle.png"))
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["protocol"] == "gt_ratio" and doc["paper_anchor"]["psnr"] == 20.87
    assert [r["image"] for r in doc["images"]] == ["1.png", "22.png"]
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "image,psnr,ssim_rgb,ssim_gray,loe,ciede2000,niqe,brisque" and csv_lines[-1].startswith("mean,")
    assert "protocol: gt_ratio" in stdout and "PSNR 20.87 dB, SSIM 0.8022" in stdout
    grid = Image.open(out / "comparison_grid.png")
    assert grid.height == 2 * 160 + 4 and grid.width > 3 * 200  # two rows of input | output | truth


def test_missing_checkpoint_is_an_error(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(inp / "a.png")
    rc, _, stderr = _cli(f"--input_dir={inp}", f"--output_dir={tmp_path / 'out'}",
                         f"--checkpoint_dir={tmp_path / 'nothing'}")
    assert rc == 1 and "error:" in stderr and "nothing" in stderr
    assert not (tmp_path / "out" / "a_kindle.png").exists()


# ---- bad input, in process with the reference networks loaded once ---------------------------


def _good(folder):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 80, (24, 30, 3), dtype=np.uint8)).save(folder / "good.png")


def _run(kind, inp, out, lines=None, **kw):
    """The evaluate job in process: (result, progress lines, per-image failures); a job-level error raises."""
    lines, failures = [] if lines is None else lines, []
    cfg = evaluation.EvalConfig(input_dir=str(inp), output_dir=str(out), **kw)
    result = evaluation.evaluate(cfg, log=lines.append, warn=failures.append, kind=kind)
    return result, lines, failures


def _gray(p):
    Image.fromarray(np.arange(15 * 17, dtype=np.uint8).reshape(15, 17)).save(p / "gray.png")
    return "gray.png", (15, 17)


def _rgba(p):
    arr = np.random.default_rng(1).integers(0, 255, (13, 9, 4), dtype=np.uint8)
    Image.fromarray(arr, "RGBA").save(p / "rgba.png")
    return "rgba.png", (13, 9)


def _palette(p):
    Image.new("RGB", (12, 10), (40, 10, 90)).convert("P", palette=Image.Palette.ADAPTIVE).save(p / "pal.png")
    return "pal.png", (10, 12)


def _sixteen_bit(p):
    arr = (np.arange(11 * 14, dtype=np.uint16).reshape(11, 14) * 300).astype(np.uint16)
    Image.fromarray(arr).save(p / "deep.png")  # mode I;16
    assert Image.open(p / "deep.png").mode.startswith("I")
    return "deep.png", (11, 14)


def _cmyk_jpeg(p):
    Image.new("CMYK", (16, 12), (10, 200, 30, 100)).save(p / "cmyk.jpg", "JPEG")
    return "cmyk.jpg", (12, 16)


def _one_pixel(p):
    Image.new("RGB", (1, 1), (20, 30, 40)).save(p / "dot.png")
    return "dot.png", (1, 1)


def _odd(p):
    Image.fromarray(np.random.default_rng(2).integers(0, 60, (7, 5, 3), dtype=np.uint8)).save(p / "odd.bmp")
    return "odd.bmp", (7, 5)


@pytest.mark.parametrize("make", [_gray, _rgba, _palette, _sixteen_bit, _cmyk_jpeg, _one_pixel, _odd])
def test_unusual_images_are_converted_and_enhanced(kind, tmp_path, make):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    name, (h, w) = make(inp)
    result, lines, errors = _run(kind, inp, out)
    assert result.ok and not errors, errors
    pixels = np.asarray(Image.open(out / image_io.output_name(name)))
    assert pixels.shape == (h, w, 3)
    assert any(name in line and "->" in line for line in lines)  # progress line


def _zero_byte(p):
    (p / "empty.png").write_bytes(b"")
    return "empty.png", "empty file"


def _truncated(p):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    (p / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return "cut.png", "not a readable image"


def _not_an_image(p):
    (p / "notes.jpg").write_text("this is text, not a JPEG\n")
    return "notes.jpg", "not a readable image"


@pytest.mark.parametrize("make", [_zero_byte, _truncated, _not_an_image])
def test_broken_files_fail_alone(kind, tmp_path, make):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    _good(inp)
    name, reason = make(inp)
    result, lines, errors = _run(kind, inp, out)
    assert not result.ok and result.failures == [(str(inp / name), errors[0])]
    assert len(errors) == 1 and name in errors[0] and reason in errors[0] and "\n" not in errors[0]
    assert (out / "good_kindle.png").is_file()  # the other file is still processed
    assert not (out / image_io.output_name(name)).exists()
    assert "1 failed" in lines[-1]


def test_empty_input_folder_is_reported(kind, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "readme.txt").write_text("no images here")
    lines = []
    with pytest.raises(evaluation.EvalError, match="input_dir=.*: no images") as raised:
        _run(kind, inp, tmp_path / "out", lines)
    assert str(inp) in str(raised.value) and raised.value.fields == ("input_dir",)
    assert any("readme.txt" in line for line in lines)


def test_output_dir_equal_to_input_dir_is_refused(kind, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    _good(inp)
    with pytest.raises(evaluation.EvalError, match="output_dir=.* is input_dir: refusing"):
        _run(kind, inp, tmp_path / "in" / ".." / "in")
    assert sorted(os.listdir(inp)) == ["good.png"]


def test_interrupted_write_leaves_no_partial_png(kind, tmp_path, monkeypatch):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    _good(inp)

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    result, _, errors = _run(kind, inp, out, grid=False)
    assert not result.ok and "disk full" in errors[0] and "good.png" in errors[0]
    assert os.listdir(out) == []  # neither good_kindle.png nor a temporary file


def test_ground_truth_size_mismatch_and_missing(kind, tmp_path):
    inp, high, out = tmp_path / "in", tmp_path / "high", tmp_path / "out"
    inp.mkdir()
    high.mkdir()
    _good(inp)
    Image.new("RGB", (30, 24)).save(inp / "other.png")
    Image.new("RGB", (31, 24)).save(high / "good.png")
    result, _, errors = _run(kind, inp, out, high_dir=str(high))
    assert not result.ok and len(errors) == 2
    assert any("good.png" in e and "differs" in e for e in errors)
    assert any("other.png" in e and "no ground truth" in e for e in errors)


# ---- gt_mean ------------------------------------------------------------------------------------


def test_gt_mean_align_of_scaled_ground_truth_gives_infinite_psnr():
    from kind_tf2 import metrics

    gt = np.random.default_rng(3).integers(0, 200, (20, 24, 3)).astype(np.uint8)
    for c in (0.05, 0.4, 1.0, 1.25):
        aligned = np.rint(metrics.gt_mean_align(gt.astype(np.float64) * c, gt)).astype(np.uint8)
        assert metrics.psnr(aligned, gt) == float("inf"), c
    # The scale is the ratio of mean grey levels (MATLAB rgb2gray weights), computed here directly.
    img = np.full((4, 4, 3), [10.0, 20.0, 30.0])
    ref = np.full((4, 4, 3), [40.0, 40.0, 40.0])
    grey = 10 * 0.298936021293775 + 20 * 0.587043074451121 + 30 * 0.114020904255103
    np.testing.assert_allclose(metrics.gt_mean_align(img, ref), img * 40.0 / grey, rtol=1e-12)
    assert metrics.gt_mean_align(np.zeros((4, 4, 3)), ref).max() == 0  # black stays black


class _ScaledInput:
    """A stand-in KinD whose output is its (stretched) input times a constant."""

    def enhance(self, x, ratio=5.0, high=None, tile=None, progress=None):
        return np.asarray(x) * 0.37


def test_gt_mean_protocol_output_proportional_to_ground_truth_scores_inf(tmp_path):
    # low = gt / 2 exactly, gt spanning 0..254: the stretched input is gt / 254, so the stand-in's
    # output is proportional to the ground truth and GT-mean alignment recovers it.
    rng = np.random.default_rng(4)
    gt = (rng.integers(0, 128, (16, 18, 3)) * 2).astype(np.uint8)
    gt[0, 0], gt[0, 1] = 0, 254
    (tmp_path / "low").mkdir(), (tmp_path / "high").mkdir()
    Image.fromarray(gt // 2).save(tmp_path / "low" / "a.png")
    Image.fromarray(gt).save(tmp_path / "high" / "a.png")
    out = tmp_path / "out"
    result, lines, errors = _run(_ScaledInput(), tmp_path / "low", out, high_dir=str(tmp_path / "high"),
                                 protocol="gt_mean")
    assert result.ok, errors
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["protocol"] == "gt_mean" and doc["images"][0]["psnr"] == float("inf")
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a_kindle.png")), gt)
    assert any(line.startswith("protocol: gt_mean") for line in lines)
    assert any("not comparable with gt_mean" in line for line in lines)
    # Without the alignment the same output is far from the ground truth.
    _run(_ScaledInput(), tmp_path / "low", tmp_path / "fixed", high_dir=str(tmp_path / "high"), protocol="fixed_ratio")
    assert json.loads((tmp_path / "fixed" / "metrics.json").read_text())["images"][0]["psnr"] < 15


def test_gt_mean_without_ground_truth_is_refused(tmp_path):
    _good(tmp_path)
    with pytest.raises(ConfigError, match="protocol=gt_mean needs high_dir") as raised:
        _run(_ScaledInput(), tmp_path, tmp_path / "out", protocol="gt_mean")
    assert raised.value.fields == ("protocol", "high_dir")


def test_written_files_follow_the_umask(kind, tmp_path):
    # PNGs, grid and metrics go through temporary files (mkstemp: 0600); they must end as any new file.
    inp, high, out = tmp_path / "in", tmp_path / "high", tmp_path / "out"
    inp.mkdir(), high.mkdir()
    _good(inp)
    Image.open(inp / "good.png").save(high / "good.png")
    old = os.umask(0o022)
    try:
        result, _, errors = _run(kind, inp, out, high_dir=str(high))
    finally:
        os.umask(old)
    assert result.ok, errors
    names = sorted(os.listdir(out))
    assert names == ["comparison_grid.png", "good_kindle.png", "metrics.csv", "metrics.json"]
    for name in names:
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


def test_unpaired_real_photos_get_no_reference_scores(kind, real_lol, tmp_path):
    """Without ground truth: NIQE and BRISQUE of each output and input, their means; a 50x50 image is enhanced,
    said in one line naming it and NIQE's minimum, and left out of NIQE's mean."""
    from kind_tf2 import metrics

    inp = tmp_path / "photos"
    inp.mkdir()
    for name in ("1.png", "22.png"):
        shutil.copy(os.path.join(real_lol, "eval15", "low", name), inp)
    Image.open(inp / "1.png").crop((100, 100, 150, 150)).save(inp / "small.png")
    result, lines, errors = _run(kind, inp, tmp_path / "out")
    assert result.ok and not errors, errors
    warned = [line for line in lines if "small.png" in line and "not scored" in line]
    assert len(warned) == 1 and "96x192" in warned[0] and "50x50" in warned[0], lines
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    rows = {r["image"]: r for r in doc["images"]}
    assert set(rows) == {"1.png", "22.png", "small.png"}
    for name in ("1.png", "22.png"):
        out = np.asarray(Image.open(tmp_path / "out" / image_io.output_name(name)))
        low = np.asarray(Image.open(inp / name).convert("RGB"))
        # The recorded values are the metrics of the saved PNG and of the input file.
        assert rows[name]["niqe"] == pytest.approx(metrics.niqe(out), abs=1e-9)
        assert rows[name]["brisque_input"] == pytest.approx(metrics.brisque(low), abs=1e-9)
    assert math.isnan(rows["small.png"]["niqe"]) and math.isfinite(rows["small.png"]["brisque"])
    assert doc["mean"]["niqe"] == pytest.approx((rows["1.png"]["niqe"] + rows["22.png"]["niqe"]) / 2)


def test_metrics_flag_is_checked(kind, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    _good(inp)
    with pytest.raises(ConfigError, match=r"^metrics=psnr: psnr need\(s\) the ground truth \(high_dir\)$"):
        _run(kind, inp, tmp_path / "out", metrics="psnr")
    with pytest.raises(RegistryError, match="^metrics=sharpness: expected default or one of psnr, ssim_rgb"):
        _run(kind, inp, tmp_path / "out", metrics="niqe,sharpness")


def test_exif_orientation_is_ignored_by_default_and_honoured_when_asked(kind, tmp_path):
    # A phone's upright photo stored sideways: 20 wide, 12 tall, tagged "rotate 90 clockwise to view" (6).
    inp = tmp_path / "in"
    inp.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = np.random.default_rng(5).integers(0, 80, (12, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(inp / "phone.jpg", exif=exif, quality=95)
    stored, _, _ = _run(kind, inp, tmp_path / "stored")  # the original's behaviour: the stored pixels
    assert stored.ok and np.asarray(Image.open(tmp_path / "stored" / "phone_kindle.png")).shape == (12, 20, 3)
    turned, _, _ = _run(kind, inp, tmp_path / "turned", exif_orientation=True)
    assert turned.ok and np.asarray(Image.open(tmp_path / "turned" / "phone_kindle.png")).shape == (20, 12, 3)

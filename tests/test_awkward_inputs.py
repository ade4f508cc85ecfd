"""Every job that takes images, on the folder users really have: mixed sizes and modes, tiny images and broken files."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ENV, REPO
from PIL import Image

from kind_tf2 import evaluation
from kind_tf2.deploy import golden
from kind_tf2.studies import anatomy, baselines

# Files no job can use, and what their one line must say.
BROKEN = {"empty.png": "empty file (0 bytes)", "cut.png": "not a readable image",
          "notes.jpg": "not a readable image"}


def _photo(real_lol, name, box):
    with Image.open(os.path.join(real_lol, "eval15", "low", name)) as im:
        return im.convert("RGB").crop(box)


def _make(folder, real_lol):
    """The awkward folder: real photos of three sizes and three formats, every mode, tiny and odd sizes, broken files.

    Returns the names of the usable images."""
    folder.mkdir(parents=True)
    _photo(real_lol, "1.png", (100, 100, 220, 180)).save(folder / "photo_a.png")  # 120x80
    _photo(real_lol, "22.png", (50, 60, 147, 135)).save(folder / "photo_b.bmp")  # 97x75
    _photo(real_lol, "111.png", (0, 0, 128, 96)).save(folder / "photo_c.jpg", quality=90)  # 128x96
    _photo(real_lol, "1.png", (300, 200, 364, 248)).convert("L").save(folder / "gray.png")
    rgba = np.random.default_rng(1).integers(0, 255, (13, 9, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.new("RGB", (12, 10), (40, 10, 90)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "pal.png")
    Image.fromarray((np.arange(11 * 14, dtype=np.uint16).reshape(11, 14) * 300)).save(folder / "deep.png")
    Image.new("CMYK", (16, 12), (10, 200, 30, 100)).save(folder / "cmyk.jpg", "JPEG")
    Image.fromarray(np.random.default_rng(2).integers(0, 60, (8, 8, 3), dtype=np.uint8)).save(folder / "small.png")
    Image.new("RGB", (1, 1), (20, 30, 40)).save(folder / "dot.png")
    Image.fromarray(np.random.default_rng(3).integers(0, 60, (7, 5, 3), dtype=np.uint8)).save(folder / "odd.bmp")
    (folder / "empty.png").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    (folder / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (folder / "notes.jpg").write_text("this is text, not a JPEG\n")
    (folder / "readme.txt").write_text("not an image: skipped, said once\n")
    return sorted(p for p in os.listdir(folder) if p not in BROKEN and not p.endswith(".txt"))


@pytest.fixture(scope="module")
def awkward(real_lol, tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward")
    good = _make(root / "photos", real_lol)
    # The same files as a LOL eval15 pair folder (the ground truth: the image itself), for the baselines.
    for side in ("low", "high"):
        os.makedirs(root / "lol" / "eval15" / side)
        for name in os.listdir(root / "photos"):
            with open(root / "photos" / name, "rb") as src, open(root / "lol" / "eval15" / side / name, "wb") as dst:
                dst.write(src.read())
    return root, good


def _evaluate(kind, ref, root, out, warn):
    result = evaluation.evaluate(evaluation.EvalConfig(input_dir=str(root / "photos"), output_dir=str(out)),
                                 log=lambda line: None, warn=warn, kind=kind)
    done = {os.path.basename(p)[: -len("_kindle.png")] for p in result.outputs}
    return result, done


def _golden(kind, ref, root, out, warn):
    recorded = golden.record(kind, str(root / "photos"), str(out), log=lambda line: None, warn=warn)
    manifest = golden.read_manifest(str(out))
    assert set(manifest["failed"]) == set(BROKEN)  # the manifest says what it could not record, and why
    rows, notes = golden.compare(kind, str(out))  # and a check reads it back: every recorded image matches
    assert rows and all(r["ok"] for r in rows) and sum(n.startswith("not recorded:") for n in notes) == len(BROKEN)
    return recorded, {os.path.splitext(n)[0] for n in manifest["images"]}


def _anatomy(kind, ref, root, out, warn):
    cfg = anatomy.AnatomyConfig(images=str(root / "photos"), out=str(out), distortions="noise,blur", strengths=1,
                                terms="l1,ssim,ms_ssim,grad,tv")
    lines = []
    result = anatomy.run(cfg, log=lines.append, warn=warn)
    # Terms larger than an image are left out on that image alone, in one line naming both.
    assert any("dot.png: ssim needs images of at least 11 px" in line for line in lines), lines
    assert {r["image"] for r in result.rows if r["term"] == "ms_ssim"} >= {"photo_a.png", "photo_b.bmp"}
    return result, {os.path.splitext(r["image"])[0] for r in result.rows}


def _baselines(kind, ref, root, out, warn):
    cfg = baselines.BaselinesConfig(data_dir=str(root / "lol"), checkpoint_dir=os.path.join(ref, "checkpoints"),
                                    out=str(out), save_images=False)
    result = baselines.run(cfg, log=lambda line: None, warn=warn)
    with open(out / "no_restoration" / "gt_ratio" / "metrics.json") as f:
        return result, {os.path.splitext(r["image"])[0] for r in json.load(f)["images"]}


JOBS = {"evaluate": _evaluate, "golden": _golden, "anatomy": _anatomy, "baselines": _baselines}


@pytest.mark.parametrize("job", list(JOBS))
def test_every_job_finishes_every_usable_image_and_names_each_broken_file_once(job, awkward, kind, ref, tmp_path):
    root, good = awkward
    said = []
    result, done = JOBS[job](kind, ref, root, tmp_path / job, said.append)
    assert done == {os.path.splitext(n)[0] for n in good}, (job, sorted(done))
    for name, reason in BROKEN.items():
        lines = [line for line in said if name in line]
        assert len(lines) == 1 and reason in lines[0] and "\n" not in lines[0], (job, name, said)
    assert len(said) == len(BROKEN), said
    assert not result.ok and len(result.failures) == len(BROKEN)  # the command line's exit status 1


@pytest.mark.parametrize("argv", [["golden", "record", "--checkpoint_dir={ref}/checkpoints", "--input_dir={photos}",
                                   "--out={tmp}/g"],
                                  ["anatomy", "--images={photos}", "--out={tmp}/a", "--distortions=noise",
                                   "--strengths=1", "--terms=l1,ms_ssim"]])
def test_on_the_command_line_broken_files_are_error_lines_and_exit_1(argv, awkward, ref, tmp_path):
    root, _ = awkward
    fill = {"ref": ref, "photos": str(root / "photos"), "tmp": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "kind_tf2", *[a.format(**fill) for a in argv]], cwd=REPO,
                          env=dict(ENV, PYTHONPATH=REPO), capture_output=True, text=True)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert sorted(e.split(": ")[1].rsplit("/", 1)[-1] for e in errors) == sorted(BROKEN), errors
    if argv[0] == "golden":  # and the record checks
        check = subprocess.run([sys.executable, "-m", "kind_tf2", "golden", "check", f"--checkpoint_dir={ref}/checkpoints",
                                f"--golden={tmp_path}/g"], cwd=REPO, env=dict(ENV, PYTHONPATH=REPO),
                               capture_output=True, text=True)
        assert check.returncode == 0 and "golden check passed" in check.stdout, check.stdout[-2000:]
        assert check.stdout.count("note: not recorded:") == len(BROKEN), check.stdout[-2000:]


def _lol_with_a_truncated_file(real_lol, root):
    """Four real our485 pairs and two eval15 pairs; the third our485 high image cut in half."""
    for split, count in (("our485", 4), ("eval15", 2)):
        names = sorted(os.listdir(os.path.join(real_lol, split, "low")))[:count]
        for side in ("low", "high"):
            os.makedirs(root / split / side)
            for name in names:
                with open(os.path.join(real_lol, split, side, name), "rb") as f:
                    data = f.read()
                (root / split / side / name).write_bytes(data)
    bad = root / "our485" / "high" / sorted(os.listdir(root / "our485" / "high"))[2]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    return bad


@pytest.mark.parametrize("command", ["train-decom", "train-restoration"])
def test_a_truncated_training_image_stops_the_stage_before_its_first_step(command, real_lol, ref, tmp_path):
    bad = _lol_with_a_truncated_file(real_lol, tmp_path / "lol")
    argv = [command, f"--data_dir={tmp_path / 'lol'}", f"--checkpoint_dir={tmp_path / 'run'}", "--epochs=1",
            "--batch_size=2", "--patch_size=32", "--decom_cache=none"]
    if command != "train-decom":
        argv.append(f"--decom_checkpoint={ref}/checkpoints/decom_net_train")
    else:
        argv.remove("--decom_cache=none")
    proc = subprocess.run([sys.executable, "-m", "kind_tf2", *argv], cwd=REPO, env=dict(ENV, PYTHONPATH=REPO),
                          capture_output=True, text=True)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and str(bad) in errors[0] and "not a readable image" in errors[0], errors
    # Found from the files before any decoding: nothing decomposed, no step taken, nothing saved.
    assert "decomposed" not in proc.stdout and "epoch [" not in proc.stdout, proc.stdout[-2000:]
    assert not any(name.startswith("ckpt") for name in os.listdir(tmp_path / "run")) \
        if (tmp_path / "run").exists() else True

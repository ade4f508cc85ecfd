"""The README as a newcomer uses it: short, its links alive, its Python and its training commands run as written."""

import os
import re
import shutil
import subprocess
import sys

from conftest import ENV, REPO

README = os.path.join(REPO, "README.md")


def _text(path=README):
    with open(path) as f:
        return f.read()


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", _text(), re.S)


def _links(path):
    """Relative link targets of a Markdown file, outside code blocks, without #anchors."""
    text = re.sub(r"```.*?```", "", _text(path), flags=re.S)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and t.split("#")[0]]


def test_readme_is_short_and_links_the_docs_pages():
    assert _text().count("\n") <= 200
    pages = {t for t in _links(README) if re.fullmatch(r"docs/[\w-]+\.md", t)}
    assert len(pages) >= 6, pages
    for page in pages:
        assert os.path.isfile(os.path.join(REPO, page)), page


def test_every_relative_link_in_the_readme_and_docs_resolves():
    files = [README] + [os.path.join(root, n) for root, _, names in os.walk(os.path.join(REPO, "docs"))
                        for n in names if n.endswith(".md")]
    broken = [f"{os.path.relpath(f, REPO)} -> {t}" for f in files for t in _links(f)
              if not os.path.exists(os.path.join(os.path.dirname(f), t))]
    assert broken == []


def test_the_readme_python_runs_on_the_released_networks(ref, tmp_path):
    (code,) = _blocks("python")
    os.symlink(os.path.join(ref, "checkpoints"), tmp_path / "checkpoint")
    shutil.copy(os.path.join(ref, "images", "22.png"), tmp_path / "low.png")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=dict(ENV, PYTHONPATH=REPO),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # evaluate.py's output of this image, as the original saved it.
    import numpy as np
    from PIL import Image

    ours = np.asarray(Image.open(tmp_path / "low_kindle.png"))
    want = np.asarray(Image.open(os.path.join(ref, "outputs", "png_test", "22_kindle.png")))
    np.testing.assert_array_equal(ours, want)


def test_the_readme_training_commands_run(tmp_path):
    block = next(b for b in _blocks("bash") if "kind-tf2 train-decom" in b)
    script = block.replace("/tmp/lol", str(tmp_path / "lol"))
    kind_tf2 = shutil.which("kind-tf2")
    assert kind_tf2, "the kind-tf2 console script is not installed (pip install -e .)"
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for run in ("decom", "illum", "rest"):
        assert any(n.endswith(".weights.h5") for n in os.listdir(tmp_path / "runs" / run)), run

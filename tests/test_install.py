"""`pip install ".[cpu,...]"` resolves to binary wheels, with TensorFlow 2.21.0, on every platform TensorFlow ships.

Slow: it asks the package index (pip's configured indexes), and pip's `--dry-run` still downloads every wheel
it resolves when the index serves no separate metadata (PEP 658): about 0.5 GB per platform, TensorFlow's wheel
most of it.
"""

import json
import subprocess
import sys

import pytest
from conftest import copy_checkout

PYTHON = "3.11"
# pip's `--platform` picks the wheels but not the environment markers: those it evaluates on the machine it
# runs on (pypa/pip#11664), so setup.py's `sys_platform` / `platform_machine` markers would all read as this
# machine's. This runs pip's own command line with the marker environment of the target platform instead.
_PIP_FOR = """
import json, sys
from pip._vendor.packaging import markers
target, host = json.loads(sys.argv[1]), markers.default_environment
markers.default_environment = lambda: {**host(), **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""
_COMMON = {"python_version": PYTHON, "python_full_version": PYTHON + ".0", "implementation_name": "cpython",
           "platform_python_implementation": "CPython"}
# Every glibc from the oldest manylinux up to 2.27, the one TensorFlow 2.21's Linux wheels need (manylinux_2_27):
# a glibc-2.27 machine (Ubuntu 18.04), the oldest those wheels install on.
_GLIBC = [f"manylinux_2_{minor}_{{arch}}" for minor in range(27, 4, -1)] + ["manylinux2014_{arch}"]
PLATFORMS = {
    # name: (pip --platform tags, marker environment, the TensorFlow distribution setup.py's markers must pick)
    "linux-x86_64": ([t.format(arch="x86_64") for t in _GLIBC],
                     dict(os_name="posix", sys_platform="linux", platform_system="Linux", platform_machine="x86_64"),
                     "tensorflow-cpu"),
    "windows-amd64": (["win_amd64"],
                      dict(os_name="nt", sys_platform="win32", platform_system="Windows", platform_machine="AMD64",
                           platform_release="10"),
                      "tensorflow-cpu"),
    # pip widens a macOS tag to every older macOS: 12.0 is what TensorFlow 2.21's wheels need.
    "macos-arm64": (["macosx_12_0_arm64"],
                    dict(os_name="posix", sys_platform="darwin", platform_system="Darwin", platform_machine="arm64",
                         platform_release="21.6.0"),
                    "tensorflow"),
    "linux-aarch64": ([t.format(arch="aarch64") for t in _GLIBC],
                      dict(os_name="posix", sys_platform="linux", platform_system="Linux", platform_machine="aarch64"),
                      "tensorflow"),
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built from a copy of the checkout's files (a build writes build/ and *.egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = copy_checkout(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True)
    (built,) = (tmp / "dist").glob("kind_tf2-*.whl")
    return built


@pytest.mark.slow
@pytest.mark.parametrize("platform", PLATFORMS)
def test_cpu_extra_resolves_to_binary_wheels_with_tensorflow_2_21(platform, wheel, tmp_path):
    tags, environment, expected = PLATFORMS[platform]
    report = tmp_path / "report.json"
    # [cpu,plots] is the README's install, [cpu,test] its test suite's: one resolution holds both.
    argv = ["install", "--dry-run", "--ignore-installed", "--only-binary=:all:", "--python-version", PYTHON,
            "--implementation", "cp", "--target", str(tmp_path / "target"), "--report", str(report),
            "--progress-bar", "off", *(f"--platform={tag}" for tag in tags), f"{wheel}[cpu,plots,test]"]
    proc = subprocess.run([sys.executable, "-c", _PIP_FOR, json.dumps({**_COMMON, **environment}), *argv],
                          capture_output=True, text=True)
    assert proc.returncode == 0, (platform, proc.stdout[-3000:], proc.stderr[-3000:])
    resolved = {item["metadata"]["name"].lower().replace("_", "-"): item for item in json.load(open(report))["install"]}
    versions = {name: item["metadata"]["version"] for name, item in resolved.items()}
    tensorflows = {name for name in versions if name in ("tensorflow", "tensorflow-cpu")}
    assert tensorflows == {expected} and versions[expected] == "2.21.0", (platform, versions)
    # The pins and extras of setup.py, all there.
    assert versions["kind-tf2"] == "0.1.0" and versions["tensorboard"].startswith("2.21."), (platform, versions)
    assert {"keras", "numpy", "matplotlib", "pytest", "scikit-image", "scipy"} <= set(versions), (platform, versions)
    # Binary wheels only (--only-binary), and TensorFlow's for this platform.
    files = {name: item["download_info"]["url"].rsplit("/", 1)[-1] for name, item in resolved.items()}
    assert all(f.endswith(".whl") for f in files.values()), (platform, files)
    cp = "cp" + PYTHON.replace(".", "")
    assert any(files[expected].endswith(f"-{cp}-{cp}-{tag}.whl") for tag in tags), (platform, files[expected])

"""Shared fixtures: the reference data folder and KinD loaded from the reference checkpoints."""

import os

import numpy as np
import pytest

# The reference outputs were made with TensorFlow's oneDNN CPU kernels. TensorFlow turns them on
# by default only on some CPUs (not on the AVX2-only AMD EPYC CI has run on); with Eigen's kernels the
# original code itself lands 1.9e-4 from its own reference after one Adam step. Must precede TF's import.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The environment of the scripts run as subprocesses: TF's C++ chatter off, output line by line.
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
REF = os.environ.get("KIND_REFERENCE", os.path.join(REPO, "..", "shared", "kind_reference"))
# The real LOL-v1 subset (all of eval15, 60 our485 pairs), as distributed.
REAL_LOL = os.environ.get("KIND_LOL", os.path.join(REPO, "..", "shared", "lol"))


def copy_checkout(dest):
    """Copy the checkout's files (tracked or new, not ignored) to `dest`: a build writes build/ and *.egg-info
    beside its sources, so packages are built from the copy."""
    import shutil
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if os.path.isfile(os.path.join(REPO, rel)):  # not deleted in the working tree
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copyfile(os.path.join(REPO, rel), os.path.join(dest, rel))
    return dest


def pytest_configure(config):
    # Two logical CPU devices for the MirroredStrategy tests; must precede TF's runtime start.
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def two_cpu_strategy():
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require_reference():
    if os.path.isfile(os.path.join(REF, "README.md")):
        return REF
    message = f"reference data not found at {REF} (set KIND_REFERENCE)"
    if _in_ci():
        pytest.fail(message + ": CI must run the parity tests, not skip them")
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_lol():
    """Path of ../shared/lol (eval15/ and our485/, real 600x400 pairs); fails under CI=true when absent."""
    if all(os.path.isdir(os.path.join(REAL_LOL, s, "low")) for s in ("eval15", "our485")):
        return REAL_LOL
    message = f"real LOL not found at {REAL_LOL} (set KIND_LOL)"
    if _in_ci():
        pytest.fail(message + ": CI must run the real-data tests, not skip them")
    pytest.skip(message)


@pytest.fixture(scope="module")
def lol(tmp_path_factory):
    """A small synthetic LOL folder (8 training, 2 eval pairs of 48x64), one per test module."""
    from kind_tf2.data import synthesize

    return synthesize.synthesize(str(tmp_path_factory.mktemp("lol")), train=8, eval_count=2, height=48, width=64)


@pytest.fixture(scope="session")
def ref():
    """Path of ../shared/kind_reference; fails under CI=true when absent."""
    return _require_reference()


@pytest.fixture(scope="session")
def ref_npz(ref):
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = dict(np.load(os.path.join(ref, "outputs", name)))
        return cache[name]

    return load


@pytest.fixture(scope="session")
def kind(ref):
    import kind_tf2

    return kind_tf2.KinD.from_checkpoint(os.path.join(ref, "checkpoints"))


@pytest.fixture(scope="session")
def saved_epoch():
    """`saved_epoch(folder)`: epochs finished by the newest checkpoint in `folder` (0: none).

    Checkpoints are numbered by step, so tests read the epoch from the checkpoint itself.
    """
    import tensorflow as tf

    def read(folder):
        prefix = tf.train.latest_checkpoint(str(folder))
        return int(tf.train.load_checkpoint(prefix).get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")) if prefix else 0

    return read


@pytest.fixture(scope="session")
def free_ports():
    """`free_ports(n)`: n TCP ports free on 127.0.0.1 now (for multi-worker clusters)."""
    import socket

    def ports(n):
        socks = [socket.socket() for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        found = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        return found

    return ports

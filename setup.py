"""Install kind_tf2: `pip install -e ".[cpu]"` on a CPU-only machine (any platform with a TensorFlow 2.21 wheel),
`pip install -e ".[gpu]"` on Linux with an NVIDIA GPU."""

from setuptools import find_packages, setup

setup(
    name="kind_tf2",
    version="0.1.0",
    description="Native TensorFlow 2 / Keras 3 port of KinD (Kindling the Darkness), faithful to the original",
    # Only the package: the top-level scripts (train_*.py, evaluate.py) are the original's layout in a
    # checkout, not modules to install (a top-level `evaluate` would shadow Hugging Face's `evaluate`).
    packages=find_packages(include=["kind_tf2", "kind_tf2.*"]),
    package_data={"kind_tf2.metrics": ["data/*.npz", "data/*.md"]},
    entry_points={"console_scripts": ["kind-tf2 = kind_tf2.cli:main"]},
    python_requires=">=3.10",
    # TensorFlow comes from an extra so that CPU machines get the small tensorflow-cpu wheel and GPU
    # machines the CUDA build; all provide the same `tensorflow` module (Keras 3 comes with it).
    # tensorboard: tf.summary.scalar / image and `tensorboard --logdir runs/`; neither tensorflow-cpu nor
    # tensorflow 2.21 pulls it in. Same version line as TensorFlow.
    install_requires=["numpy", "pillow", "absl-py", "tensorboard>=2.21,<2.22"],
    extras_require={
        # tensorflow-cpu 2.21.0 has wheels for Linux x86_64 (manylinux_2_27) and Windows amd64 only; macOS
        # arm64 (macosx_12_0) and Linux aarch64 (manylinux_2_27) have only `tensorflow`, which runs on their
        # CPUs (Apple's GPU would need the tensorflow-metal plugin, not tried here). Hence the markers: one
        # command everywhere. (No TensorFlow 2.21 wheel exists for macOS x86_64 or Windows arm64: pip says
        # "No matching distribution" there.) tests/test_install.py resolves this on each platform.
        "cpu": [
            "tensorflow-cpu==2.21.0; (sys_platform == 'linux' and platform_machine == 'x86_64')"
            " or (sys_platform == 'win32' and platform_machine == 'AMD64')",
            # The complement of the line above (PEP 508 markers have no `not`).
            "tensorflow==2.21.0; (sys_platform != 'linux' or platform_machine != 'x86_64')"
            " and (sys_platform != 'win32' or platform_machine != 'AMD64')",
        ],
        # Linux only (x86_64, aarch64): TensorFlow's `and-cuda` extra pulls NVIDIA's CUDA / cuDNN / NCCL wheels
        # (nvidia-*-cu12, no platform markers), and nvidia-nccl-cu12 has Linux wheels alone, so `[gpu]` does
        # not resolve on Windows or macOS; TensorFlow has no native GPU support there anyway (Windows: none
        # since 2.11, use WSL2). Elsewhere use `cpu`.
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        # The plots of the reproduce / quickstart report and of the loss laboratory; never drawn by hand.
        "plots": ["matplotlib"],
        "lab": ["matplotlib"],
        # scikit-image and scipy: test-only peers (CIEDE2000, PSNR and SSIM are checked against them).
        # ruff and import-linter: the style and the architecture (layers, no cycles) that .ci/run checks
        # (ruff.toml, .importlinter); pinned, so that a new release's rules do not fail an unchanged tree.
        "test": ["pytest", "matplotlib", "scikit-image", "scipy", "ruff==0.17.6", "import-linter==2.17"],
    },
)

"""Install kind_tf2: `pip install -e ".[cpu]"` on a CPU-only machine, `pip install -e ".[gpu]"` with CUDA."""

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
    # machines the CUDA build; both provide the same `tensorflow` module (Keras 3 comes with it).
    # tensorboard: tf.summary.scalar / image and `tensorboard --logdir runs/`; tensorflow-cpu does not
    # pull it in. Same version line as TensorFlow.
    install_requires=["numpy", "pillow", "absl-py", "tensorboard>=2.21,<2.22"],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        # The plots of the reproduce / quickstart report and of the loss laboratory; never drawn by hand.
        "plots": ["matplotlib"],
        "lab": ["matplotlib"],
        # scikit-image and scipy: test-only peers (CIEDE2000, PSNR and SSIM are checked against them).
        "test": ["pytest", "matplotlib", "scikit-image", "scipy"],
    },
)

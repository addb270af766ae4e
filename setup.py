from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="larq-nobn",
    version="0.1.0",
    description=(
        "Binary neural networks without batch normalization (or with a better one) "
        "for Keras/Larq, deployable with Larq Compute Engine"
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    # Every package under larq_nobn/, and zoo/ installed as larq_nobn.zoo.
    packages=find_packages(include=["larq_nobn", "larq_nobn.*"]) + ["larq_nobn.zoo"],
    package_dir={"larq_nobn": "larq_nobn", "larq_nobn.zoo": "zoo"},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "tf-keras>=2.16,<2.22",
        "larq==0.14.0",
        "larq-compute-engine==0.16.0",
        "numpy<2",
        "tensorflow-datasets>=4.9",
        # tfds 4.9.10 imports it in download_and_prepare but only declares it for <3.9.
        "importlib-resources",
        "keras-tuner>=1.3.5,<1.4",
        "tensorboard",
        "matplotlib",
        "tqdm",
        "psutil",  # the run lock tells a live holder from a stale one
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "ruff"],
        "gpu": ["tensorflow[and-cuda]"],
    },
    entry_points={"console_scripts": ["larq-nobn=larq_nobn.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

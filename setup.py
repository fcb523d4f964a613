"""Packaging for accelbrainbase."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "accelbrainbase" / "__init__.py").read_text()).group(1)

CORE = [
    "mxnet==1.9.1",
    # mxnet 1.9.1 fails to import with numpy >= 1.24 (np.bool was removed).
    "numpy<1.24",
    "gluoncv==0.10.5.post0",
    "pillow",
    "tqdm",
    "matplotlib",
]
DEMO = ["scikit-learn", "scikit-image", "statsmodels", "gymnasium"]
# model.export_onnx and running exported files (pins verified with mxnet 1.9.1's exporter).
ONNX = ["onnx==1.14.1", "onnxruntime==1.19.2"]
# `make docs` (Sphinx 9 and MyST need Python >= 3.11). Pinned: the build runs with warnings as errors,
# and a new docutils or Sphinx may warn where these do not.
DOCS = ["sphinx==9.0.4", "docutils==0.22.4", "myst-parser==5.2.0", "myst-nb==1.4.0"]
# `make lint` (CI runs it): pinned, since a new release adds rules and checks.
LINT = ["ruff==0.17.6", "mypy==2.4.1"]
# tests/test_docs.py builds the site; on Python < 3.11 it is skipped.
TEST = DEMO + ONNX + LINT + ["pytest", "pytest-xdist", "nbclient", "nbformat", "ipykernel"] + [
    f'{requirement}; python_version >= "3.11"' for requirement in DOCS]

setup(
    name="accelbrainbase",
    version=VERSION,
    description="A model zoo of energy-based, reconstruction, generative and reinforcement-learning models "
    "as MXNet Gluon HybridBlocks.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.8,<3.12",
    packages=find_packages(include=["accelbrainbase", "accelbrainbase.*"]),
    install_requires=CORE,
    extras_require={"demo": DEMO, "onnx": ONNX, "test": TEST, "docs": DOCS, "lint": LINT},
)

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
TEST = DEMO + ["pytest", "pytest-xdist", "nbclient", "nbformat", "ipykernel"]

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
    extras_require={"demo": DEMO, "test": TEST},
)

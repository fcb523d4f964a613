"""Sphinx configuration of the accelbrainbase site: ``make docs`` builds it into docs/_build/html.

The build is offline (no intersphinx inventories are fetched) and runs with warnings as errors
(``-W --keep-going``; tests/test_docs.py does the same), so a docstring with broken markup or a
reference to a name of this package that does not exist fails it. Docstrings are Google style
(napoleon); a name in single backticks is a cross-reference (see _ext/abbdocs.py).
"""
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(DOCS, "_ext"))
sys.path.insert(0, os.path.dirname(DOCS))  # the package of this checkout, installed or not
os.environ.setdefault("MPLBACKEND", "Agg")

import accelbrainbase  # noqa: E402

project = "accelbrainbase"
author = "accelbrainbase contributors"
copyright = "accelbrainbase contributors, MIT licence"
version = release = accelbrainbase.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_nb",  # Markdown pages (MyST) and notebooks; it loads myst_parser itself
    "abbdocs",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", "**/.tmp-*"]
templates_path = []

# Single backticks in docstrings name objects: `ObservableModel`, `training.fit`. Names found
# nowhere (`x`, `(N, 64)`) render as code without a warning; every other unresolved reference to
# this package warns.
default_role = "abb-default"
nitpicky = True

# autodoc / autosummary / napoleon
autosummary_generate = False  # _ext/abbdocs.py writes the pages, one per public name
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False  # an override without a docstring would repeat Gluon's
autodoc_default_options = {"exclude-members": "hybrid_forward, forward"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
python_maximum_signature_line_length = 90
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shapes", "notes_style")]
napoleon_use_rtype = False

# MyST and notebooks: the notebooks are rendered with the outputs stored in them, never executed.
nb_execution_mode = "off"
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "alabaster"
html_title = f"accelbrainbase {release}"
html_theme_options = {"description": "MXNet Gluon model zoo", "fixed_sidebar": True,
                      "show_relbars": True}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_static_path = []

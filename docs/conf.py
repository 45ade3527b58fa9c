"""Sphinx configuration for the skgru documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``. Set
``SKGRU_DOCS_QUICK=1`` to run the gallery examples in their quick mode (fewer
epochs, smaller grids), as CI does.
"""

import os
import re
import sys
import warnings

import skgru

# The gallery scripts draw with matplotlib; never open windows while building.
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.abspath(os.path.dirname(__file__)))

project = "skgru"
author = "skgru developers"
copyright = "2026, skgru developers"
version = skgru.__version__
release = skgru.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples/README.txt"]
root_doc = "index"

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx ----------------------------------------------------------------
# Off by default so the build needs no network; set SKGRU_DOCS_INTERSPHINX=1 to
# link numpy / scikit-learn / matplotlib names to their documentation.
if os.environ.get("SKGRU_DOCS_INTERSPHINX", "") not in ("", "0"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
    }
else:
    intersphinx_mapping = {}

# -- sphinx-gallery ---------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "doc_module": ("skgru",),
    "backreferences_dir": "generated/backreferences",
}

# Examples emit ConvergenceWarning in quick mode by design (few epochs).
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

# -- HTML -------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skgru {release}"
html_static_path = []
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
}
html_sidebars = {"index": [], "install": [], "quickstart": []}


# -- docstring hooks --------------------------------------------------------------
_METADATA_REQUEST = re.compile(r"^set_\w+_request$")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=[),])")


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated ``set_{method}_request`` methods document
    # metadata routing with links into scikit-learn's own glossary.
    if _METADATA_REQUEST.match(name):
        return True
    return None


def _escape_fitted_names(app, what, name, obj, options, lines):
    # In numpydoc type fields such as ``ndarray of shape (n_samples, max_len_)``
    # a name ending in "_" would be read as a reST hyperlink reference.
    for i, line in enumerate(lines):
        if "`" in line or line.lstrip().startswith((">>>", "...")):
            continue
        lines[i] = _TRAILING_UNDERSCORE.sub(r"\\_", line)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_fitted_names, priority=400)

"""Sphinx configuration for the documentation (built with ``tox -e docs``)."""

from __future__ import annotations

from importlib.metadata import version as _dist_version

project = "APScheduler"
author = "The APScheduler-compatible scheduler authors"
copyright = "2026, " + author
release = _dist_version("APScheduler")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]

# Types come from the annotations and are listed with each parameter, not in the signature.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

# The docs are built without network access, so intersphinx cannot fetch other projects'
# inventories. Nitpicky mode (-n) therefore checks only this library's own references, and
# leaves references to the standard library and third-party packages unresolved.
nitpick_ignore_regex = [(r"py:.*", r"(?!apscheduler\b).*")]

exclude_patterns = ["_build"]
templates_path: list[str] = []

try:
    import sphinx_rtd_theme  # noqa: F401
except ImportError:
    html_theme = "alabaster"
else:
    html_theme = "sphinx_rtd_theme"

"""Sphinx configuration for the documentation (built with ``tox -e docs``)."""

from __future__ import annotations

from importlib.metadata import version as _dist_version
from importlib.util import find_spec
from pathlib import Path

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

# The optional back ends import libraries that a documentation build need not have installed
# (the ``doc`` extra installs none of them). Autodoc stands in a placeholder for each, so every
# reference page builds either way and shows the same thing.
autodoc_mock_imports = [
    # job stores
    "sqlalchemy",
    "pymongo",
    "bson",
    "redis",
    "rethinkdb",
    "kazoo",
    "etcd3",
    "tenacity",
    # executors and schedulers for other event loops
    "gevent",
    "tornado",
    "twisted",
    "PySide6",
    "PyQt6",
    "PySide2",
    "PyQt5",
    # executors that hand runs to task queues
    "celery",
    "billiard",
    "kombu",
    "rq",
    "dramatiq",
]

# Overriding methods without a docstring of their own (BlockingScheduler.start, the stores'
# lookup_job, ...) are documented once, on the base class, rather than again on every subclass.
autodoc_inherit_docstrings = False

# The docs are built without network access, so intersphinx cannot fetch the inventories of
# the standard library or of other projects. Nitpicky mode (-n) then checks this library's own
# references, and these patterns let through exactly the references it cannot resolve.
nitpick_ignore_regex = [
    # standard library modules
    (
        r"py:.*",
        (
            r"(datetime|collections\.abc|zoneinfo|functools|concurrent\.futures|threading|logging"
            r"|pickle|asyncio|shelve|typing|enum)(\..*)?"
        ),
    ),
    # names the annotations use unqualified, and the ``str|unicode`` of older docstrings
    (r"py:class", r"date|tzinfo|timedelta|unicode"),
    # the third-party libraries of the optional back ends
    (
        r"py:.*",
        (
            r"(sqlalchemy|pymongo|kazoo|etcd3|redis|rethinkdb|gevent|tornado|twisted|PySide\d|PyQt\d"
            r"|celery|rq|dramatiq)"
            r"(\..*)?"
        ),
    ),
    (r"py:class", r"Engine|MetaData|MongoClient|KazooClient|Etcd3Client|Redis"),
]
# Private or instance attributes that docstrings mention but the reference does not list.
nitpick_ignore = [
    # the guard of a coroutine run, which executors pass to run_coroutine_job (private)
    ("py:class", "TaskRunGuard"),
    ("py:meth", "_create_pool"),
    ("py:attr", "expressions"),
    ("py:attr", "client"),
]

exclude_patterns = ["_build"]
templates_path: list[str] = []


def _exclude_pages_of_missing_modules() -> None:
    """
    Leave out reference pages of modules that are not part of this source tree.

    A page ``modules/<family>/<name>.rst`` documents ``apscheduler.<family>.<name>`` (and
    ``index.rst`` the package itself); without the module, autodoc could only warn.
    """
    docs_dir = Path(__file__).parent
    for page in sorted((docs_dir / "modules").rglob("*.rst")):
        parts = page.relative_to(docs_dir / "modules").with_suffix("").parts
        if parts[-1] == "index":
            parts = parts[:-1]
        module_name = ".".join(("apscheduler", *parts))
        try:
            found = find_spec(module_name) is not None
        except ModuleNotFoundError:  # a parent package is missing too
            found = False
        if not found:
            exclude_patterns.append(page.relative_to(docs_dir).as_posix())
            nitpick_ignore_regex.append((r"py:.*", rf"{module_name}\b.*"))


_exclude_pages_of_missing_modules()


def _is_private(cls: type) -> bool:
    return any(part.startswith("_") for part in (*cls.__module__.split("."), cls.__name__))


def _public_bases(bases: list[type]) -> list[type]:
    """Replace private helper classes (mixins, shared store code) by their public ancestors."""
    result: list[type] = []
    for base in bases:
        candidates = _public_bases(list(base.__bases__)) if _is_private(base) else [base]
        result.extend(candidate for candidate in candidates if candidate not in result)
    return result


def _hide_private_bases(app, name, obj, options, bases: list[type]) -> None:
    bases[:] = _public_bases(bases)


def setup(app) -> None:
    app.connect("autodoc-process-bases", _hide_private_bases)


try:
    import sphinx_rtd_theme  # noqa: F401
except ImportError:
    html_theme = "alabaster"
else:
    html_theme = "sphinx_rtd_theme"

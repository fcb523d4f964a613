"""Sphinx glue for the accelbrainbase site (loaded by docs/conf.py).

- ``.. abb-module:: accelbrainbase.x.y`` documents one module: its docstring, then a table of every
  name in its ``__all__`` that the module defines, each linked to a page of its own. The pages are
  written into ``api/generated/`` when the build starts (that folder is not committed), named by the
  shortest public path (``accelbrainbase.models.AutoEncoder`` rather than
  ``accelbrainbase.models.dense.AutoEncoder``). A module of the package that no API page names is a
  warning, so a new module cannot silently miss the reference.
- The notebooks of ``demo/`` are copied into ``notebooks/`` (not committed either) so that Sphinx,
  which reads only files under ``docs/``, renders them with their stored outputs.
- Single-backtick names in docstrings (```ObservableModel```, ```training.fit```,
  ```ObservableModel.learn```) are cross-references: a name that is not found in the current
  module is looked up among everything the site documents, by the Python object it names or by its
  last components. Single-backtick text that names nothing documented (```x```, ```(N, 64)```) stays
  code and does not warn; a reference to an unknown public name of this package
  (```accelbrainbase.models.Gone```, a type hint, an explicit role) warns (``nitpicky``), so a broken
  reference fails the ``-W`` build. Other libraries' names render as code (the build is offline).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.domains.python import PyXRefRole
from sphinx.ext.autosummary import Autosummary
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode

logger = logging.getLogger(__name__)

PACKAGE = "accelbrainbase"
# Where users import from, most public first: a name re-exported by one of these is documented there.
PUBLIC_PACKAGES = ("accelbrainbase", "accelbrainbase.data", "accelbrainbase.models", "accelbrainbase.controllers")
# Modules that are not part of the API reference (the demo runner has its own notebooks).
SKIPPED_MODULES = ("accelbrainbase.demo",)
GENERATED = "api/generated"
NOTEBOOKS = "notebooks"
# References into these libraries are rendered as code: the build is offline, so there is no
# inventory of theirs to link to.
EXTERNAL_ROOTS = {
    "abc", "autograd", "builtins", "collections", "contextlib", "dataclasses", "enum", "functools", "gluon",
    "gluoncv", "gym", "gymnasium", "io", "itertools", "json", "logging", "math", "matplotlib", "mx", "mxnet",
    "nd", "np", "numpy", "os", "pandas", "pathlib", "pd", "PIL", "plt", "random", "re", "scipy", "skimage",
    "sklearn", "statsmodels", "threading", "tqdm", "types", "typing", "typing_extensions", "warnings",
}
_DIRECTIVE_RE = re.compile(r"^\s*\.\. abb-module::\s*(\S+)\s*$", re.M)


# --------------------------------------------------------------------------------------------------
# Which names each module documents


def _defined_names(modname: str) -> set:
    """Names a module binds at top level itself (classes, functions, assignments; not imports)."""
    module = importlib.import_module(modname)
    source = inspect.getsource(module)
    names = set()
    for stmt in ast.parse(source).body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
    return names


def public_name(modname: str, name: str) -> str:
    """The shortest public path of ``modname.name``: the first package of `PUBLIC_PACKAGES` that
    re-exports the very object, else the module's own path."""
    obj = getattr(importlib.import_module(modname), name)
    for package in PUBLIC_PACKAGES:
        pkg = importlib.import_module(package)
        if name in getattr(pkg, "__all__", ()) and getattr(pkg, name, None) is obj:
            return f"{package}.{name}"
    return f"{modname}.{name}"


def package_modules() -> List[str]:
    """Every module of the package that the API reference must cover."""
    pkg = importlib.import_module(PACKAGE)
    names = []
    for info in pkgutil.walk_packages(pkg.__path__, PACKAGE + "."):
        if info.name.startswith(SKIPPED_MODULES) or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        if info.ispkg:  # packages only re-export their modules' names
            continue
        names.append(info.name)
    return names


def assign_names(modules: List[str]) -> Dict[str, List[Tuple[str, str]]]:
    """``{module: [(name, public name), ...]}``: each name of a module's ``__all__`` is documented
    once, in the module that defines it (or, for a name no listed module defines, the first module
    that lists it)."""
    defined = {m: _defined_names(m) for m in modules}
    seen = set()
    table: Dict[str, List[Tuple[str, str]]] = {m: [] for m in modules}
    for pass_defined in (True, False):
        for m in modules:
            for name in getattr(importlib.import_module(m), "__all__", ()):
                if (name in defined[m]) != pass_defined:
                    continue
                full = public_name(m, name)
                obj = getattr(importlib.import_module(m), name)
                # One page per object: a module re-exporting another's name does not document it
                # again (values like 13 or "input" may be shared by unrelated constants: by name).
                key = full if isinstance(obj, (int, float, str, bytes, type(None))) else id(obj)
                if key not in seen:
                    seen.add(key)
                    table[m].append((name, full))
    return table


# --------------------------------------------------------------------------------------------------
# Files written when the build starts


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic, and only on a change: Sphinx rereads a page whose file time moved."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _stub(full: str) -> str:
    package, short = full.rsplit(".", 1)
    obj = getattr(importlib.import_module(package), short)
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        body = f".. {kind}:: {short}\n   :members:\n   :show-inheritance:\n"
        if any(base.__name__.startswith("_") for base in obj.__mro__[1:]):
            # A private base has no page: its members are shown here, up to the first public base
            # (whose page shows its own).
            public = sorted({base.__name__ for base in obj.__mro__[1:] if not base.__name__.startswith("_")})
            body += f"   :inherited-members: {', '.join(public)}\n"
    elif callable(obj):
        body = f".. autofunction:: {short}\n"
    else:
        body = f".. autodata:: {short}\n"
    title = short.replace("_", r"\_")
    return (f".. This page is generated by docs/_ext/abbdocs.py; do not edit it.\n\n"
            f"{title}\n{'=' * len(title)}\n\n.. currentmodule:: {package}\n\n{body}")


def _sync_folder(folder: Path, wanted: Dict[str, str], suffix: str) -> None:
    """Make ``folder`` hold exactly ``wanted`` (file name -> text), removing stale files."""
    for name, text in wanted.items():
        _write_if_changed(folder / name, text)
    if folder.exists():
        for path in folder.glob("*" + suffix):
            if path.name not in wanted:
                path.unlink()


def _sync_notebooks(srcdir: Path) -> None:
    """Copy demo/*.ipynb into notebooks/. A notebook saved without kernel metadata gets the Python
    kernel's, so that its cells are highlighted as Python (the copy only; demo/ is left alone)."""
    demo = srcdir.parent / "demo"
    wanted = {}
    for nb in sorted(demo.glob("*.ipynb")):
        text = nb.read_text()
        notebook = json.loads(text)
        metadata = notebook.setdefault("metadata", {})
        if not (metadata.get("language_info") or {}).get("name") and \
                not (metadata.get("kernelspec") or {}).get("language"):
            metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        wanted[nb.name] = text
    _sync_folder(srcdir / NOTEBOOKS, wanted, ".ipynb")


def on_builder_inited(app) -> None:
    srcdir = Path(app.srcdir)
    _sync_notebooks(srcdir)
    named = []
    for page in sorted((srcdir / "api").glob("*.rst")):
        named.extend(_DIRECTIVE_RE.findall(page.read_text()))
    for module in package_modules():
        if module not in named:
            logger.warning(f"module {module} is on no API page: add '.. abb-module:: {module}' "
                           "to the page of its group in docs/api/")
    table = assign_names(named)
    app.env.abb_api = {m: [full for _, full in entries] for m, entries in table.items()}
    stubs = {f"{full}.rst": _stub(full) for entries in table.values() for _, full in entries}
    _sync_folder(srcdir / GENERATED, stubs, ".rst")


# --------------------------------------------------------------------------------------------------
# The abb-module directive


def _unbalanced(text: str) -> bool:
    doubles = text.count("``")
    return doubles % 2 == 1 or (text.count("`") - 2 * doubles) % 2 == 1


def _first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph; a period inside ``code`` or `name`
    does not end it."""
    lines = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    paragraph = " ".join(lines)
    for match in re.finditer(r"``.*?``|`[^`]*`|\.(?:\s|$)", paragraph):
        if match.group(0).startswith("."):
            return paragraph[:match.start() + 1]
    return paragraph


class _Autosummary(Autosummary):
    """Autosummary whose one-line summaries never end inside inline code: Sphinx cuts a summary at
    the first period followed by a space, even in ``dims[0] -> ... -> dims[-1]``."""

    def get_items(self, names):
        items = []
        for name, signature, summary, real_name in super().get_items(names):
            obj = _import_path(real_name)
            if _unbalanced(summary):
                summary = _first_sentence(inspect.getdoc(obj) or "")
            if not summary.strip() and _is_value(obj):  # a constant without a comment: its value
                value = repr(obj)
                summary = "``" + (value if len(value) <= 60 else value[:56] + " ...") + "``"
            items.append((name, signature, summary, real_name))
        return items


class ModuleDirective(SphinxDirective):
    """``.. abb-module:: accelbrainbase.models.rbm``: the module's docstring and a table of its names."""

    required_arguments = 1
    has_content = False

    def run(self) -> List[nodes.Node]:
        modname = self.arguments[0]
        names = getattr(self.env, "abb_api", {}).get(modname)
        if names is None:  # the table is built from the pages when the build starts
            names = [full for _, full in assign_names([modname])[modname]]
        docdir = os.path.dirname(self.env.current_document.docname)
        toctree = os.path.relpath(GENERATED, docdir or ".").replace(os.sep, "/")
        lines = [f".. automodule:: {modname}", ""]
        if names:
            # automodule made ``modname`` the current module: its own names are given relative to it.
            lines += [".. abb-autosummary::", f"   :toctree: {toctree}", "   :nosignatures:", ""]
            lines += [f"   {full.removeprefix(modname + '.')}" for full in names]
            lines.append("")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), self.content_offset,
                                container)
        return container.children


# --------------------------------------------------------------------------------------------------
# Cross-references


class DefaultRole(PyXRefRole):
    """The default role (single backticks): a Python cross-reference marked as such, so that a
    name found nowhere stays code without a warning."""

    def __call__(self, name, rawtext, text, lineno, inliner, options=None, content=()):
        return super().__call__("py:obj", rawtext, text, lineno, inliner, options or {}, content)

    def result_nodes(self, document, env, node, is_ref):
        node["abb_default_role"] = True
        return [node], []


def _import_path(path: str) -> Any:
    """The object at dotted ``path`` among the modules already imported, or None. (The names come
    from docstrings: trying to import each would cost a search of ``sys.path`` per word.)"""
    parts = path.split(".")
    obj = sys.modules.get(parts[0])
    if obj is None:
        return None
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            obj = sys.modules.get(".".join(parts[: i + 1])) if inspect.ismodule(obj) else None
            if obj is None:
                return None
    return obj


class _Index:
    """The documented Python objects, by name and by identity."""

    def __init__(self, env) -> None:
        self.objects = env.get_domain("py").objects
        self.by_id: Dict[int, List[str]] = {}
        self.by_last: Dict[str, List[str]] = {}
        self._keep = []
        for name, entry in self.objects.items():
            self.by_last.setdefault(name.rsplit(".", 1)[-1], []).append(name)
            if entry.objtype in ("data", "attribute"):
                continue  # small ints and shared constants would make identity ambiguous
            obj = _import_path(name) if name.startswith(PACKAGE) else None
            if obj is not None:
                self._keep.append(obj)
                self.by_id.setdefault(id(obj), []).append(name)

    def find(self, target: str, modname: Optional[str], classname: Optional[str]) -> Optional[str]:
        target = target.removesuffix("()")
        if not target or not re.fullmatch(r"[A-Za-z_][\w.]*", target):
            return None
        # 1. The object the name denotes in the context of the reference.
        contexts = [target, f"{PACKAGE}.{target}"]
        if modname:
            contexts += [f"{modname}.{target}"] + ([f"{modname}.{classname}.{target}"] if classname else [])
        for path in contexts:
            if path in self.objects:
                return path
            if not path.startswith(PACKAGE + "."):
                continue
            obj = _import_path(path)
            if obj is not None and id(obj) in self.by_id:
                return min(self.by_id[id(obj)], key=len)
        # 2. A documented name ending with the target, when that is unambiguous.
        suffix = "." + target
        matches = [name for name in self.by_last.get(target.rsplit(".", 1)[-1], ()) if name.endswith(suffix)]
        if len(matches) > 1:  # a name documented under its public path has its module's path too
            targets = {(self.objects[n].docname, self.objects[n].node_id) for n in matches}
            if len(targets) == 1:
                return min(matches, key=len)
        if len(matches) > 1 and modname:  # prefer the reference's own module
            local = [name for name in matches if name.startswith(modname + ".")]
            matches = local or matches
        return matches[0] if len(matches) == 1 else None


def on_process_bases(app, name, obj, options, bases) -> None:
    """Show a class's public ancestors in place of a private base (``_Player`` -> the public classes
    it derives from): a private class has no page to link to."""
    def public(base):
        if not base.__name__.startswith("_"):
            return [base]
        return [b for parent in base.__bases__ for b in public(parent)]

    shown = []
    for base in bases:
        for b in public(base) if isinstance(base, type) else [base]:
            if b not in shown:
                shown.append(b)
    bases[:] = shown


def _is_value(obj: Any) -> bool:
    return not (inspect.isclass(obj) or inspect.ismodule(obj) or callable(obj))


def on_value_docstring(app, what, name, obj, options, lines) -> None:
    """A constant without a ``#:`` comment would be described by its type's docstring ("int([x])
    -> integer ..."): it gets none (its value is shown)."""
    if what in ("attribute", "data") and lines and _is_value(obj):
        type_doc = (type(obj).__doc__ or "").strip().splitlines()
        if type_doc and type_doc[0].strip() in (line.strip() for line in lines):
            del lines[:]


def on_process_docstring(app, what, name, obj, options, lines) -> None:
    """Runs after napoleon, which reads ``text: more`` at the start of an attribute's docstring as
    ``type: description``. This package's attribute docstrings are prose (their types are in the
    annotations): a "type" with a space outside brackets is put back at the start of the text."""
    if what not in ("attribute", "data", "property"):
        return
    for i, line in enumerate(lines):
        if line.startswith(":type: ") and " " in re.sub(r"\[[^\]]*\]", "", line[len(":type: "):]).strip():
            prose = line[len(":type: "):].strip()
            del lines[i]
            while lines and not lines[-1].strip():
                lines.pop()
            first = next((j for j, text in enumerate(lines) if text.strip()), None)
            if first is None:
                lines.append(prose + ":")
            else:
                lines[first] = f"{prose}: {lines[first].lstrip()}"
            return


def on_skip_member(app, what, name, obj, skip, options):
    """A module-level function stored as a class attribute (a dataclass field's default, like
    ``ModelEntry.learn``) is a value, not a method: the class's docstring describes it."""
    if what == "class" and inspect.isfunction(obj) and "." not in obj.__qualname__:
        return True
    return None


def on_missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    # Built once all pages are read; kept on the application, not on the environment, which is
    # pickled between builds (the identities it records would be stale in the next process).
    index = getattr(app, "_abb_index", None)
    if index is None:
        index = app._abb_index = _Index(env)
    target = node["reftarget"]
    name = index.find(target, node.get("py:module"), node.get("py:class"))
    if name is not None:
        entry = index.objects[name]
        return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)
    ours = target.startswith(PACKAGE + ".")
    if ours and any(part.startswith("_") for part in target.split(".")):
        return contnode  # a private name (``-> _SharedEncoderAdaptation``): no page
    if ours and isinstance(_import_path(target), typing.TypeVar):
        return contnode  # a type variable of a signature (``M`` in ``load(...) -> M``)
    if not ours and (node.get("abb_default_role") or target.split(".")[0] in EXTERNAL_ROOTS):
        return contnode  # code in single backticks (`x`, `(N, 64)`), or another library's name
    # nitpicky: Sphinx warns, e.g. for `accelbrainbase.models.Gone` or a type hint naming nothing.
    node["refwarn"] = True
    return None


def on_env_get_outdated(app, env, added, changed, removed):
    """Reread the API pages every build: their tables follow the modules' ``__all__``, not the
    pages' text."""
    return [doc for doc in env.found_docs if doc.startswith("api/") and not doc.startswith(GENERATED + "/")]


def on_env_updated(app, env):
    app._abb_index = None  # the pages were (re)read: index the objects afresh
    return []


def setup(app):
    app.add_directive("abb-module", ModuleDirective)
    app.connect("env-updated", on_env_updated)
    app.connect("env-get-outdated", on_env_get_outdated)
    app.add_role("abb-default", DefaultRole())
    app.connect("builder-inited", on_builder_inited)
    app.connect("missing-reference", on_missing_reference)
    app.connect("autodoc-process-bases", on_process_bases)
    app.connect("autodoc-skip-member", on_skip_member)
    app.connect("autodoc-process-docstring", on_value_docstring, priority=400)  # before napoleon
    app.connect("autodoc-process-docstring", on_process_docstring, priority=600)  # after napoleon
    app.add_directive("abb-autosummary", _Autosummary)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

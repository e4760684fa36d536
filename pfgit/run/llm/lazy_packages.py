"""Importing the openai SDK without running its re-export packages until something needs them.

`import openai` runs `openai/types/__init__.py`, which imports ~400 pydantic model modules
(and `openai.lib` pulls in the Responses API's types): ~1 s of CPU before a batch's first
request, of which a chat or completion call needs none (pfgit posts the body through the
client and reads the reply as JSON). Those `__init__.py` files only re-export names from their
submodules. While the SDK is imported here, such a package is made lazy, as PEP 562 allows:
its module object exists with its `__path__`, so `openai.types.chat.chat_completion` imports
exactly that file; the first time any other name is asked of the package (`from openai.types
import Completion`, `openai.types.Batch`, `dir()`), its real `__init__.py` runs in the same
module object, so every later use sees the package exactly as an eager import made it.

Only a package whose `__init__.py` is nothing but imports, `__all__`/`__version__`-style
constant assignments, docstrings and `if TYPE_CHECKING:` blocks is made lazy (checked on its
syntax tree, nothing run); any other package, and the top-level `openai` package, is imported
as usual. `PFGIT_LLM_LAZY_SDK=0` turns this off.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading


def import_lazily(package: str):
    """`import package` with its re-export-only subpackages made lazy; the package module.
    Modules imported before (a tool may have imported the SDK itself) are left as they are."""
    if package in sys.modules or os.environ.get("PFGIT_LLM_LAZY_SDK") == "0":
        return importlib.import_module(package)
    finder = _Finder(package + ".")
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(package)
    finally:
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, prefix: str):
        self.prefix = prefix

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(self.prefix) or path is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (spec is None or not spec.submodule_search_locations or spec.origin is None
                or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
                or not _reexports_only(spec.origin)):
            return spec
        spec.loader = _LazyPackageLoader(spec.loader)
        return spec


_ALLOWED_TOP = (ast.Import, ast.ImportFrom)


def _reexports_only(init_path: str) -> bool:
    """True when the package's `__init__.py` does nothing but import and name things."""
    try:
        with open(init_path, "rb") as f:
            tree = ast.parse(f.read(), init_path)
    except (OSError, SyntaxError, ValueError):
        return False
    return all(_harmless(node) for node in tree.body)


def _harmless(node) -> bool:
    if isinstance(node, _ALLOWED_TOP):
        return True
    if isinstance(node, ast.Expr):                       # a docstring
        return isinstance(node.value, ast.Constant)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):   # __all__ = [...], __version__ = "..."
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return (all(isinstance(t, ast.Name) and t.id.startswith("__") for t in targets)
                and node.value is not None and _literal(node.value))
    if isinstance(node, ast.If):                          # if TYPE_CHECKING: <imports>
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        return name == "TYPE_CHECKING" and all(_harmless(n) for n in node.body + node.orelse)
    return False


def _literal(value) -> bool:
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


class _LazyPackageLoader(importlib.abc.Loader):
    """Creates the package module without running its `__init__.py`; the module's
    `__getattr__` imports a submodule of the asked name, or else runs `__init__.py` once."""

    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        real = self.real
        name = module.__name__
        lock = threading.RLock()
        state = {"loaded": False, "loader": None}

        def __getattr__(attr):
            if not state["loaded"] and not attr.startswith("__"):
                sub = importlib.machinery.PathFinder.find_spec(f"{name}.{attr}", module.__path__)
                if sub is not None:   # the import machinery's own locks suffice for a submodule
                    return importlib.import_module(f"{name}.{attr}")
            load()
            try:
                return module.__dict__[attr]
            except KeyError:
                raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

        def __dir__():
            load()
            return sorted(module.__dict__)

        def load():
            """Run the real `__init__.py` once. Other threads asking meanwhile wait for it to
            finish (they would otherwise see a half-filled package); the loading thread's own
            questions while it runs see the package as it is so far, as in an eager import."""
            if state["loaded"] or state["loader"] == threading.get_ident():
                return
            with lock:
                if state["loaded"]:
                    return
                state["loader"] = threading.get_ident()
                try:
                    real.exec_module(module)
                finally:
                    state["loader"] = None
                state["loaded"] = True
                d = module.__dict__
                for k, f in (("__getattr__", __getattr__), ("__dir__", __dir__)):
                    if d.get(k) is f:
                        del d[k]

        module.__getattr__ = __getattr__
        module.__dir__ = __dir__

    def get_code(self, fullname):   # inspect and -m tools ask loaders for these
        return self.real.get_code(fullname)

    def get_source(self, fullname):
        return self.real.get_source(fullname)

    def is_package(self, fullname):
        return True

"""Where a flex flow's `entry: module:function` lives: the one answer for validate, run, test and
history. Pure: paths only, no I/O.

promptflow (devkit `_sdk/entities/_flows/flex.py::FlexFlow._load`, core
`contracts/flow.py::Flow._resolve_working_dir`, `executor/_script_executor.py::_parse_entry_func`):
`code` is a folder relative to the flow file's folder (absent or empty: that folder); it goes
first on `sys.path`, `importlib.import_module(module)` imports the entry from it, and the run and
test submitters make it the working directory. promptflow also takes absolute paths and `..`;
pfgit refuses any `code` that leaves the flow folder, since a flow file is untrusted input and
nothing outside the repository (nor outside the folder its run snapshot records) is read.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from .readers import join

# promptflow's FlowEntryRegex.Python, with no empty dotted part (`a..b` names no module file)
ENTRY = re.compile(r"^([a-zA-Z0-9_]+(?:\.[a-zA-Z0-9_]+)*):([a-zA-Z0-9_]+)$")


class EntryPathError(ValueError):
    """The flow's `code` cannot be used (it leaves the flow folder, or is not a path)."""

    key = ("code",)


@dataclass(frozen=True)
class EntryLocation:
    module: str     # "pkg.mod"
    function: str   # the function or class name
    root: str       # the import root and working directory: the `code` folder
    file: str       # the module as a file: root/pkg/mod.py
    package: str    # the module as a package folder: root/pkg/mod (its __init__.py)


def code_root(data: dict, flow_dir: str = ".") -> str:
    """The `code` folder of a flex flow under `flow_dir` (EntryPathError when it leaves it)."""
    code = data.get("code") if isinstance(data, dict) else None
    if code is None or code == "":
        return flow_dir
    if not isinstance(code, str):
        raise EntryPathError(f"'code' must be a folder path, not {type(code).__name__}")
    rel = join(code)
    if (code.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", code) or rel == ".."
            or rel.startswith("../")):
        raise EntryPathError(f"'code: {code}' points outside the flow folder; pfgit does not "
                             "import code from there (keep the entry's code inside the flow folder)")
    return _under(flow_dir, rel)


def entry_location(data: dict, flow_dir: str = ".") -> EntryLocation | None:
    """Where the entry of the flex flow `data` (in folder `flow_dir`, a relative POSIX path or an
    absolute one) is imported from; None when `data` has no Python `module:function` entry (a DAG
    flow, a C# flow, a malformed entry: validate and the engine report those themselves).
    Raises EntryPathError for a `code` outside the flow folder."""
    if not isinstance(data, dict) or isinstance(data.get("nodes"), list) or data.get("language") == "csharp":
        return None
    entry = data.get("entry")
    m = ENTRY.match(entry) if isinstance(entry, str) else None
    if m is None:
        return None
    root = code_root(data, flow_dir)
    base = _under(root, m.group(1).replace(".", "/"))
    return EntryLocation(m.group(1), m.group(2), root, base + ".py", base)


def _under(base: str, rel: str) -> str:
    if rel == ".":
        return base
    if base in ("", "."):
        return rel
    return posixpath.join(base, rel) if posixpath.isabs(base) else join(base, rel)

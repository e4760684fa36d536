"""Run names: one git ref component below refs/pfgit/runs/.

Rule (docs/runs.md): a run name follows git's check-ref-format rules for a single path component,
and additionally holds no '/' and no whitespace: at most 200 characters, none of
space, tab, control characters, ``~ ^ : ? * [ \\ /``; not starting with '.' or '-'; not ending
with '.' or '.lock'; no '..' and no '@{'; not '@' alone. `pfgit runs record --name` rejects other
names; names coming from other tools (promptflow imports) are escaped with `escape_run_name`.
"""

from __future__ import annotations

import re
import time

from ..errors import UsageError

_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]")
MAX_LEN = 200


def problem(name: str) -> str | None:
    """Why `name` is not a valid run name (None when it is)."""
    if not name:
        return "is empty"
    if len(name) > MAX_LEN:
        return f"is longer than {MAX_LEN} characters"
    m = _BAD_CHARS.search(name)
    if m:
        ch = m.group(0)
        what = {"/": "a slash", " ": "a space"}.get(ch, repr(ch))
        return f"contains {what} (allowed: letters, digits, '.', '_', '-', see docs/runs.md)"
    if name.startswith((".", "-")):
        return "starts with '.' or '-'"
    if name.endswith((".", ".lock")):
        return "ends with '.' or '.lock'"
    if ".." in name or "@{" in name or name == "@":
        return "contains '..' or '@{' or is '@'"
    return None


def validate_run_name(name: str) -> str:
    why = problem(name)
    if why:
        raise UsageError(f"invalid run name '{name}': it {why}")
    return name


def escape_run_name(name: str) -> str:
    """A valid run name derived from any string (for names made by other tools)."""
    s = _BAD_CHARS.sub("_", name or "run")
    s = s.replace("..", "_.").replace("@{", "@_")
    s = s.lstrip(".-") or "run"
    while s.endswith(".") or s.endswith(".lock"):
        s = s[:-1] if s.endswith(".") else s[:-5] + "_lock"
    if s == "@":
        s = "_"
    return s[:MAX_LEN]


_VARIANT_REF = re.compile(r"\$\{([^.]+)\.([^}]+)\}")


def default_run_name(flow_path: str, when: float | None = None, folder: str | None = None,
                     variant: str | None = None, dag: bool = True) -> str:
    """promptflow's generated name (`Run._generate_run_name`): `<flow folder>_<variant>_<stamp>`
    for a DAG flow (the variant id of `variant` ('${node.variant_1}'), else `variant_0`),
    `<flow folder>_<stamp>` for a flex or prompty flow, `stamp` = YYYYmmdd_HHMMSS_ffffff (UTC
    here, local time in pf), sanitised as pf does (lower case, runs of other characters -> '_').
    A flow at the repository's top (`flow_path` ".") is named after `folder`, the folder on disk."""
    when = time.time() if when is None else when
    base = flow_path.rstrip("/").rsplit("/", 1)[-1]
    if base in ("", ".") and folder:
        import os

        base = os.path.basename(os.path.abspath(folder))
    base = base if base not in ("", ".") else "flow"
    if dag:
        m = _VARIANT_REF.fullmatch(variant.strip()) if isinstance(variant, str) else None
        base = f"{base}_{m.group(2) if m else 'variant_0'}"
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(when)) + f"_{int((when % 1) * 1e6):06d}"
    return escape_run_name(_sanitise(f"{base}_{stamp}"))


def _sanitise(name: str) -> str:
    """promptflow's `_sanitize_python_variable_name`: lower case, every run of non-word characters
    and underscores one '_', none at either end, 'n' before a leading digit."""
    s = re.sub(r"[\W_]+", " ", name.lower()).strip()
    if re.match(r"\d", s):
        s = "n" + s
    return s.replace(" ", "_") or "run"


def is_dag_folder(folder: str | None) -> bool:
    """Whether the flow at `folder` (a folder or a flow file) is a DAG flow, for its default name."""
    import os

    if not folder:
        return True
    if os.path.isfile(folder):
        return not folder.endswith(".prompty") and not os.path.basename(folder).startswith("flow.flex.")
    return any(os.path.exists(os.path.join(folder, f)) for f in ("flow.dag.yaml", "flow.dag.yml"))

"""`pfgit install`: register pfgit as git's merge and diff driver for flow files, and undo it.

Writes `.gitattributes` lines and git config entries (local, or `--global` for every repo of the
user) naming the running interpreter by absolute path, so drivers and hooks work outside the
virtualenv. Idempotent; never changes a line or a config value it did not write: what it added
is recorded (`.git/pfgit/install.json`, or `~/.config/pfgit/install.json` for --global) and
`--uninstall` removes exactly that. Config is written with `git config`, the tool users expect
to own their config files.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field

from ..errors import UsageError

ATTRIBUTE_LINES = ("flow.dag.yaml merge=pfgit diff=pfgit", "flow.dag.yml merge=pfgit diff=pfgit")
MERGE_NAME = "pfgit semantic merge of Prompt flow files"


def merge_driver_command(python_exe: str | None = None) -> str:
    """`pfgit merge-driver` as a module run: the same code without the CLI framework's start-up
    (~100 ms of typer/pydantic imports, paid once per merged flow file)."""
    return f"{shlex.quote(python_exe or sys.executable)} -m pfgit.integrate.mergedriver %O %A %B %P"


def config_entries(python_exe: str | None = None) -> dict:
    """Every git config entry pfgit's drivers need (key -> value)."""
    py = python_exe or sys.executable
    entries = {"merge.pfgit.name": MERGE_NAME, "merge.pfgit.driver": merge_driver_command(py)}
    try:
        from .diffdriver import driver_config
        entries.update(driver_config(py))
    except ImportError:  # diff driver not built: its minimal form
        entries["diff.pfgit.command"] = f"{shlex.quote(py)} -m pfgit diff-driver"
    return entries


@dataclass
class InstallReport:
    scope: str                                       # "local" | "global"
    attributes_file: str
    added_lines: list = field(default_factory=list)
    kept_lines: list = field(default_factory=list)   # user lines for our patterns we left alone
    config_set: dict = field(default_factory=dict)
    config_kept: dict = field(default_factory=dict)  # keys the user had set otherwise
    hooks: list = field(default_factory=list)
    hooks_not_installed: dict = field(default_factory=dict)  # hook -> line to add (own hooks folder)
    hooks_where: str = ""                                    # why: where that folder is
    hooks_dir: str | None = None
    removed_lines: list = field(default_factory=list)
    config_unset: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _git(args: list, cwd: str | None = None, check: bool = True) -> str:
    try:
        p = subprocess.run(["git"] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    except OSError as e:
        raise UsageError(f"cannot run git: {e}") from None
    if check and p.returncode != 0:
        raise UsageError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"git {args[0]} failed")
    return p.stdout if p.returncode == 0 else ""


def repo_paths(path: str = ".") -> tuple:
    """(worktree top, git dir) of the repository containing `path`."""
    if not os.path.isdir(path):
        raise UsageError("no such folder", file=path)
    p = subprocess.run(["git", "rev-parse", "--show-toplevel", "--absolute-git-dir"], cwd=path,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        bare = subprocess.run(["git", "rev-parse", "--is-bare-repository"], cwd=path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.strip()
        if bare == "true":
            raise UsageError("this is a bare repository: it has no worktree, so no flows to merge "
                             "or diff and no hooks to run; run pfgit install in a clone",
                             file=os.path.abspath(path))
        raise UsageError("not a git repository (or any parent up to /)", file=os.path.abspath(path))
    top, gitdir = p.stdout.strip().splitlines()[:2]
    return top, gitdir


def _config_home() -> str:
    return os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")


def global_attributes_file() -> str:
    """The user's global attributes file: core.attributesFile, else git's XDG default."""
    configured = _git(["config", "--global", "--get", "core.attributesFile"], check=False).strip()
    if configured:
        return os.path.expanduser(configured)
    return os.path.join(_config_home(), "git", "attributes")


def _state_file(scope: str, gitdir: str | None) -> str:
    if scope == "global":
        return os.path.join(_config_home(), "pfgit", "install.json")
    return os.path.join(gitdir, "pfgit", "install.json")


def _load_state(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_state(path: str, state: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, path)


def _read_text(path: str) -> str:
    """The file as it is (line ends included: uninstall must give back the very same bytes)."""
    # surrogateescape: a `.gitattributes` holding Latin-1 bytes (a pull request's) was an
    # internal error (UnicodeDecodeError); its bytes are kept as they are
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return ""
    except IsADirectoryError:   # a pull request can commit `.gitattributes/x`
        raise UsageError("is a folder, not a file: git does not read it", file=path) from None


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".pfgit-tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def _refuse_symlink(attrs: str) -> None:
    """A repository's `.gitattributes` that is a symbolic link (a pull request can commit one
    pointing at ~/.ssh/id_rsa): git does not read it, and rewriting it copied the target's
    content into the repository, for the user to commit."""
    if os.path.islink(attrs):
        raise UsageError("is a symbolic link: git does not read it, and pfgit does not write "
                         "through it or copy what it points to; make it a regular file", file=attrs)


def _has_line(lines: list, want: str) -> bool:
    """`want` is there already, however spaced or ordered (`flow.dag.yaml diff=pfgit merge=pfgit`)."""
    pattern, *attrs = want.split()
    return any(ln.split()[:1] == [pattern] and set(attrs) <= set(ln.split()[1:]) for ln in lines)


def _pattern_taken(lines: list, pattern: str) -> str | None:
    """A user line that already sets merge/diff for `pattern` (we do not override it)."""
    for ln in lines:
        parts = ln.split()
        if parts and parts[0] == pattern and any(
                a.lstrip("-!").split("=")[0] in ("merge", "diff") for a in parts[1:]):
            return ln
    return None


def install(path: str = ".", scope: str = "local", python_exe: str | None = None) -> InstallReport:
    """Install drivers (and hooks for a local install). Idempotent."""
    gitdir = None
    if scope == "global":
        attrs = global_attributes_file()
        cfg = ["config", "--global"]
        cwd = None
    else:
        top, gitdir = repo_paths(path)
        attrs, cfg, cwd = os.path.join(top, ".gitattributes"), ["config", "--local"], top
        _refuse_symlink(attrs)
    state_path = _state_file(scope, gitdir)
    state = _load_state(state_path)
    report = InstallReport(scope, attrs)

    text = _read_text(attrs)
    lines = text.splitlines()
    added = []
    for want in ATTRIBUTE_LINES:
        if want in (ln.strip() for ln in lines) or _has_line(lines, want):
            continue
        taken = _pattern_taken(lines, want.split()[0])
        if taken is not None:
            report.kept_lines.append(taken)
            continue
        added.append(want)
    if added:
        if not os.path.exists(attrs):
            state["created_attributes_file"] = True
        nl = "\r\n" if "\r\n" in text else "\n"     # the file's own line ends
        if text and not text.endswith("\n"):
            text += nl
            state["added_final_newline"] = True       # taken away again by uninstall
        _write_text(attrs, text + "".join(ln + nl for ln in added))
    report.added_lines = added
    state["attribute_lines"] = sorted(set(state.get("attribute_lines", [])) | set(added))
    state["attributes_file"] = attrs

    config = state.get("config", {})
    for key, value in config_entries(python_exe).items():
        current = _git(cfg + ["--get", key], cwd=cwd, check=False).rstrip("\n")
        if current and current != value and key not in config:
            report.config_kept[key] = current     # the user's own driver setting: keep it
            continue
        if current != value:
            _git(cfg + [key, value], cwd=cwd)
            report.config_set[key] = value
        config[key] = value
    state["config"] = config

    if scope == "local":
        try:
            from . import hooks
        except ImportError:
            hooks = None
        if hooks is not None:
            own, where = hooks.hooks_not_ours(top)
            if own:  # core.hooksPath not in .git: say what to add, never rewrite
                report.hooks_dir, report.hooks_where = own, where
                py = python_exe or sys.executable
                report.hooks_not_installed = {n: hooks.hook_command(n, py) for n in hooks.hook_names()}
            else:
                report.hooks = list(hooks.install_hooks(top, python_exe) or [])
    _save_state(state_path, state)
    return report


def uninstall(path: str = ".", scope: str = "local") -> InstallReport:
    """Remove exactly what `install` added (lines and config values still as we wrote them)."""
    gitdir = None
    if scope == "global":
        cfg, cwd = ["config", "--global"], None
    else:
        top, gitdir = repo_paths(path)
        cfg, cwd = ["config", "--local"], top
    state_path = _state_file(scope, gitdir)
    state = _load_state(state_path)
    attrs = state.get("attributes_file") or (
        global_attributes_file() if scope == "global" else os.path.join(top, ".gitattributes"))
    report = InstallReport(scope, attrs)
    ours = set(state.get("attribute_lines", []))
    # a local `.gitattributes` made a symlink since the install is left alone (see _refuse_symlink)
    if ours and os.path.exists(attrs) and not (scope == "local" and os.path.islink(attrs)):
        lines = _read_text(attrs).splitlines(keepends=True)
        keep = [ln for ln in lines if ln.strip() not in ours]
        report.removed_lines = [ln.strip() for ln in lines if ln.strip() in ours]
        if not keep and state.get("created_attributes_file"):
            os.unlink(attrs)
        elif report.removed_lines:
            if state.get("added_final_newline") and keep and lines[-1].strip() in ours:
                keep[-1] = keep[-1].rstrip("\r\n")
            _write_text(attrs, "".join(keep))
    for key, value in state.get("config", {}).items():
        current = _git(cfg + ["--get", key], cwd=cwd, check=False).rstrip("\n")
        if current == value:
            _git(cfg + ["--unset", key], cwd=cwd, check=False)
            report.config_unset.append(key)
    for section in ("merge.pfgit", "diff.pfgit"):   # drop the section header git leaves behind
        if not _git(cfg + ["--get-regexp", "^" + section.replace(".", r"\.") + r"\."],
                    cwd=cwd, check=False).strip():
            _git(cfg + ["--remove-section", section], cwd=cwd, check=False)
    if scope == "local":
        try:
            from . import hooks
        except ImportError:
            hooks = None
        if hooks is not None:
            report.hooks = list(hooks.uninstall_hooks(top) or [])
    try:
        os.unlink(state_path)
    except FileNotFoundError:
        pass
    return report

"""`pfgit merge BRANCH`: git merge with the pfgit driver guaranteed, then a check of every flow.

The driver is handed to git for this one command (`-c merge.pfgit.driver=...`) and the
attributes that select it are put in `info/attributes` (the highest-precedence attributes file;
in a linked worktree the one of the common git dir, which is where git reads it: `git rev-parse
--git-path info/attributes`) only while git runs, so the merge uses pfgit in clones that never
ran `pfgit install` — the PR workflow, where the server will not run custom drivers. SIGINT,
SIGTERM and SIGHUP are passed on to git and the attributes removed before pfgit exits. Driving
`git merge` is the job, so the git binary is used here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from ..errors import UsageError
from ..fsutil import write_atomic
from .install import ATTRIBUTE_LINES, MERGE_NAME, merge_driver_command, repo_paths

_BLOCK_HEAD = "# pfgit merge: temporary, removed when the merge command ends"


@dataclass
class MergeOutcome:
    exit_code: int
    branch: str
    flows: list = field(default_factory=list)     # {"file", "status", "conflicts", "problems"}
    other_conflicts: list = field(default_factory=list)   # unmerged files that are not flows
    interrupted: str | None = None    # the signal that stopped the merge (SIGINT, SIGTERM, ...)


def _git(args: list, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git"] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def attributes_path(top: str) -> str:
    """The info/attributes file git reads for the worktree at `top` (in a linked worktree: the
    common git dir's, not the worktree's own git dir)."""
    rel = _git(["rev-parse", "--git-path", "info/attributes"], top).stdout.strip()
    return os.path.join(top, rel)


class _TemporaryAttributes:
    """Add our attribute lines to info/attributes for the duration of a `with`."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        try:
            with open(self.path, "rb") as f:
                self.original = f.read()
        except FileNotFoundError:
            self.original = None
        head = (_BLOCK_HEAD + "\n").encode()
        if self.original is not None and head in self.original:  # left by a killed pfgit (-9)
            self.original = self.original[:self.original.index(head)] or None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        text = (self.original or b"").decode("utf-8", "replace")
        if text and not text.endswith("\n"):
            text += "\n"
        # atomic both ways: a kill mid-write must never leave the user's own lines cut short
        write_atomic(self.path, (text + _BLOCK_HEAD + "\n" + "\n".join(ATTRIBUTE_LINES) + "\n").encode("utf-8"))
        return self

    def __exit__(self, *exc):
        if self.original is None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        else:
            write_atomic(self.path, self.original)


class _Signals:
    """While git merges: SIGINT/SIGTERM/SIGHUP are recorded and passed on to git, whose exit
    then lets the `with` blocks around us clean up (default handlers would kill us first)."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.child = None
        self.received: int | None = None
        self.saved: dict = {}

    def _handle(self, signum, _frame) -> None:
        self.received = signum
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(signum)
            except OSError:
                pass

    def __enter__(self):
        for name in self.NAMES:
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    self.saved[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread: leave signals alone
                    pass
        return self

    def __exit__(self, *exc):
        if self.child is not None and self.child.poll() is None:  # an exception on our side
            self.child.kill()
            self.child.wait()
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def is_flow_file(path: str) -> bool:
    return os.path.basename(path) in ("flow.dag.yaml", "flow.dag.yml")


def run_merge(path: str, branch: str, commit: bool = True, message: str | None = None,
              quiet: bool = False, python_exe: str | None = None) -> MergeOutcome:
    if not branch or branch.startswith("-"):  # git would read it as an option
        raise UsageError(f"unknown revision '{branch}'")
    top, _gitdir = repo_paths(path)
    head = _git(["rev-parse", "--verify", "-q", "HEAD"], top).stdout.strip()
    if not head:
        raise UsageError("the current branch has no commit yet")
    if _git(["rev-parse", "--verify", "-q", branch + "^{commit}"], top).returncode != 0:
        raise UsageError(f"unknown revision '{branch}'")
    cmd = ["git", "-c", f"merge.pfgit.name={MERGE_NAME}",
           "-c", f"merge.pfgit.driver={merge_driver_command(python_exe)}", "merge", "--no-edit"]
    cmd += ["--no-commit"] if not commit else []
    cmd += ["-m", message] if message else []
    returncode = 0
    with _Signals() as sig, _TemporaryAttributes(attributes_path(top)):
        if sig.received is None:
            sig.child = subprocess.Popen(cmd + ["--end-of-options", branch], cwd=top,
                                         stdout=sys.stderr if quiet else None)
            if sig.received is not None:   # arrived while git was starting
                sig.child.send_signal(sig.received)
            returncode = sig.child.wait()
    if sig.received is not None:
        return MergeOutcome(128 + sig.received, branch,
                            interrupted=signal.Signals(sig.received).name)
    out = MergeOutcome(returncode, branch)
    if returncode not in (0, 1):   # git refused (unrelated histories, ...): no merge
        return out
    merging = _git(["rev-parse", "-q", "--verify", "MERGE_HEAD"], top).returncode == 0
    if returncode == 1 and not merging and \
            _git(["rev-parse", "--verify", "-q", "HEAD"], top).stdout.strip() == head:
        # git refused with 1 ("your local changes would be overwritten"): nothing was merged,
        # so no flow is reported as merged
        return out
    # what the merge brought (index vs the old HEAD), not the worktree's own uncommitted edits
    changed = _names(top, ["diff", "--name-only", "-z", "--cached", head])
    unmerged = set(_names(top, ["diff", "--name-only", "-z", "--diff-filter=U"]))
    for rel in sorted(set(changed) | unmerged):
        if is_flow_file(rel):
            out.flows.append(check_flow(top, rel, rel in unmerged, head))
        elif rel in unmerged:
            out.other_conflicts.append(rel)
    return out


def _names(top: str, args: list) -> list:
    """Paths git lists NUL-separated (-z): a flow folder named 'my flow' or 'café' comes back
    whole and unquoted (split on whitespace, it was reported as a deleted 'flow/flow.dag.yaml')."""
    return [n for n in _git(args, top).stdout.split("\0") if n]


def check_flow(top: str, rel: str, unmerged: bool, before: str | None = None) -> dict:
    """Conflicts by node, or the validation errors the merge added, of one flow in the worktree."""
    from ..merge.conflicts import scan

    entry = {"file": rel, "status": "merged", "conflicts": [], "problems": []}
    full = os.path.join(top, rel)
    if not os.path.exists(full):
        entry["status"] = "deleted" if not unmerged else "conflict (deleted on one side)"
        return entry
    with open(full, "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r\n", "\n")
    regions = scan(text)
    if regions or unmerged:
        entry["status"] = "conflicts"
        entry["conflicts"] = [r.to_json() for r in regions]
        if not regions:
            entry["status"] = _unmerged_status(top, rel)
        return entry
    from ..flow.readers import DirReader
    from ..validate.api import validate_path

    known = _errors_before(top, rel, before) if before else set()
    for report in validate_path(DirReader(top, ".", boundary=top), rel):
        entry["problems"] += [p.to_json() for p in report.problems
                              if p.severity == "error" and (p.code, p.message) not in known]
    return entry


def _unmerged_status(top: str, rel: str) -> str:
    """What git left for an unmerged file without markers (modify/delete, both added, ...)."""
    out = _git(["--literal-pathspecs", "ls-files", "-u", "--", rel], top).stdout
    stages = {ln.split()[2] for ln in out.splitlines() if len(ln.split()) >= 3}
    if "2" not in stages:
        return "conflict: deleted by us, changed by them (keep it with `git add`, or `git rm` it)"
    if "3" not in stages:
        return "conflict: changed by us, deleted by them (keep it with `git add`, or `git rm` it)"
    return "conflicts"


def _errors_before(top: str, rel: str, commit: str) -> set:
    """(code, message) of the errors the flow already had at `commit` (not the merge's doing)."""
    from ..git.repo import TreeReader, open_repo
    from ..validate.api import validate_path

    try:
        repo = open_repo(top)
        reader = TreeReader(repo, repo[commit.encode()].tree)
        return {(p.code, p.message) for r in validate_path(reader, rel) for p in r.problems}
    except Exception:  # history unreadable by dulwich: report everything
        return set()

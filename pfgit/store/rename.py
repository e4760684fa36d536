"""`pfgit runs rename OLD NEW`: a run under another name (to resolve a name clash with a remote).

The snapshot is rewritten, not only its ref moved: run.json's `name` (and the commit message's
trailer) must equal the ref name. Evaluation runs of the renamed run are rewritten too (their
`base_run` names it and their second parent is its snapshot). Order: new objects, new refs
(compare-and-swap), then the old refs removed; a crash in between leaves both names, never none.
"""

from __future__ import annotations

import json

from dulwich.repo import Repo

from ..errors import UsageError
from ..git import objects as gobj
from ..git import runrefs
from . import jsondata
from .names import validate_run_name
from .read import read_snapshot
from .snapshot import commit_message


def _rewrite(repo: Repo, name: str, sha: bytes, new_name: str, base: tuple | None) -> bytes:
    """A copy of snapshot `sha` named `new_name`; `base` = (old base sha, (new base name, sha))."""
    snap = read_snapshot(repo, name, sha)
    run = dict(snap.run, name=new_name)
    c = repo[sha]
    parents = list(c.parents)
    if base is not None:
        old_base, (base_name, base_sha) = base
        run["base_run"] = {"name": base_name, "commit": base_sha.decode()}
        parents = [base_sha if p == old_base else p for p in parents]
    entries = dict(snap.files)
    entries["run.json"] = (gobj.FILE_MODE, gobj.put_bytes(
        repo, jsondata.utf8(run, indent=2) + b"\n"))
    tree = gobj.make_tree(repo, entries)
    return gobj.make_commit(repo, tree, parents, commit_message(new_name, run, snap.metrics),
                            when=c.commit_time)


def rename_run(repo: Repo, old: str, new: str, idx=None) -> dict:
    """Rename run `old` to `new`; returns {"old", "new", "snapshot", "evaluations": [names]}."""
    validate_run_name(new)
    sha = runrefs.get_run(repo, old)
    if sha is None:
        raise UsageError(f"unknown run '{old}'")
    if runrefs.get_run(repo, new) is not None:
        raise UsageError(f"run '{new}' already exists (choose another name)")
    new_sha = _rewrite(repo, old, sha, new, None)
    evals = []
    for name, esha in runrefs.list_runs(repo).items():
        if name == old:
            continue
        try:
            base = (read_snapshot(repo, name, esha).run.get("base_run") or {})
        except Exception:  # one unreadable run does not stop the rename
            continue
        if isinstance(base, dict) and base.get("name") == old:
            evals.append((name, esha, _rewrite(repo, name, esha, name, (sha, (new, new_sha)))))
    if not runrefs.add_run_ref(repo, new, new_sha):
        raise UsageError(f"run '{new}' already exists (recorded concurrently?)")
    for name, esha, rewritten in evals:
        repo.refs.set_if_equals(runrefs.run_ref(name), esha, rewritten)
    runrefs.delete_run_ref(repo, old, sha)
    if idx is not None:
        idx.refresh()
    return {"old": old, "new": new, "snapshot": new_sha.decode(),
            "evaluations": sorted(n for n, _, _ in evals)}

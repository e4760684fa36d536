"""`pfgit runs gc`: runs whose flow no longer exists on any local branch.

A run is kept while its flow folder path holds a flow on HEAD or any local branch, or while some
flow folder there has exactly its flow tree (the flow was moved). Unlinked imported runs are kept
unless asked for. Deleting removes the ref (and index rows); the objects go with `git gc`.
"""

from __future__ import annotations

from dulwich.repo import Repo

from ..flow.load import find_flows
from ..flow.model import FLOW_FILES
from ..git import runrefs
from ..git.objects import tree_at
from ..git.repo import TreeReader


def garbage(repo: Repo, runs: list, include_unlinked: bool = False) -> list:
    roots = [repo[h].tree for h in runrefs.local_heads(repo)]
    memo: dict = {}
    live_trees: set | None = None
    out = []
    for r in runs:
        if not r.get("linked") and not include_unlinked:
            continue
        path = r.get("flow") or "."
        if any(_has_flow(repo, root, path, memo) for root in roots):
            continue
        if live_trees is None:
            live_trees = set()
            for root in roots:
                for loc in find_flows(TreeReader(repo, root), "."):
                    t = tree_at(repo, root, loc.dir, memo)
                    if t is not None:
                        live_trees.add(t.decode())
        if r.get("flow_tree") in live_trees:
            continue
        out.append(r)
    return out


def _has_flow(repo: Repo, root: bytes, path: str, memo: dict) -> bool:
    t = tree_at(repo, root, path, memo)
    if t is None:
        return False
    names = {e.path.decode("utf-8", "replace") for e in repo[t].iteritems()}
    return bool(names & set(FLOW_FILES)) or any(n.endswith(".prompty") for n in names)


def delete_runs(repo: Repo, idx, runs: list) -> list:
    deleted = []
    for r in runs:
        if runrefs.delete_run_ref(repo, r["name"], r["snapshot"].encode()):
            idx.remove_run(r["name"])
            deleted.append(r["name"])
    return deleted

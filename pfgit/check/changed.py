"""Which flows a pull request changed: the baseline to compare with, its merge base with HEAD, and
the flows whose behaviour differs between the two (a semantic diff, so a reformat is not a change).
"""

from __future__ import annotations

from dataclasses import dataclass

from dulwich.repo import Repo

from ..errors import UsageError
from ..git.repo import TreeReader, resolve


@dataclass
class Baseline:
    spec: str            # what the user named (or the default chosen)
    tip: bytes           # the baseline's commit
    base: bytes          # merge base of baseline and HEAD: what the pull request started from
    remote: str | None   # remote holding the baseline (to fetch its runs from), if any


def _config_get(repo: Repo, section: tuple, key: bytes) -> str | None:
    try:
        v = repo.get_config_stack().get(section, key)
    except KeyError:
        return None
    return v.decode("utf-8", "replace") if v else None


def upstream(repo: Repo) -> str | None:
    """`origin/main` for a branch tracking origin's main (like `git rev-parse @{upstream}`)."""
    try:
        ref = repo.refs.read_ref(b"HEAD")
    except KeyError:
        return None
    if not ref or not ref.startswith(b"ref: refs/heads/"):
        return None
    branch = ref[len(b"ref: refs/heads/"):]
    remote = _config_get(repo, (b"branch", branch), b"remote")
    merge = _config_get(repo, (b"branch", branch), b"merge")
    if not remote or not merge or not merge.startswith("refs/heads/"):
        return None
    name = merge[len("refs/heads/"):]
    return name if remote == "." else f"{remote}/{name}"


def find_baseline(repo: Repo, spec: str | None) -> Baseline:
    """The baseline REV (default: the current branch's upstream, else origin/main) and its merge
    base with HEAD."""
    from dulwich.graph import find_merge_base

    if spec is None:
        spec = upstream(repo)
        if spec is None:
            try:
                resolve(repo, "origin/main")
                spec = "origin/main"
            except UsageError:
                raise UsageError("no baseline: the branch has no upstream and there is no "
                                 "origin/main; name one with --baseline REV") from None
    if spec.startswith("-"):
        raise UsageError(f"'{spec}' is not a revision")
    tip = resolve(repo, spec)
    head = resolve(repo, "HEAD")
    bases = find_merge_base(repo, [head, tip])
    if not bases:
        raise UsageError(f"HEAD and {spec} have no common history")
    remote = None
    if "/" in spec:
        first = spec.split("/", 1)[0]
        if _config_get(repo, (b"remote", first.encode()), b"url"):
            remote = first
    return Baseline(spec=spec, tip=tip, base=bases[0], remote=remote)


def tree_reader(repo: Repo, commit: bytes) -> TreeReader:
    return TreeReader(repo, repo[commit].tree)


def changed_flows(repo: Repo, base: bytes, head: bytes, only: list | None = None) -> list:
    """FlowDiffs (pfgit.diff.tree) of the flows that differ between base and head, formatting-only
    changes included (status 'unchanged': the caller decides what they need)."""
    from ..diff.tree import diff_trees

    diffs = diff_trees(tree_reader(repo, base), tree_reader(repo, head), only or ["."])
    return [d for d in diffs if d.status != "same"]

"""`pfgit import-zip`: a flow zip from the studio merged into the worktree, three-way.

plan (pure but for reading): read the zip safely -> find the flow in it -> choose the base
(pfgit.integrate.studio.base) -> per file: take the side that changed, or merge (the semantic
merge for the flow file, git's text merge for other text files). Nothing is written until the
whole plan exists, so a refused zip or a failed plan leaves the repo as it was.

apply: every git object first; then the backup ref (the worktree's flow folder as it was, as a
commit: `refs/pfgit-backups/imports/<flow>`); then the files (each atomically, temp file + rename);
last the import ref (`refs/pfgit/imports/<flow>`, parent: the previous import). An interrupted
import leaves the import ref where it was, so running it again resumes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ...errors import UsageError
from ...flow.model import DAG_FILES, FLOW_FILES
from .base import BACKUPS_PREFIX, IMPORTS_PREFIX, Base, find_base, read_ref, ref_name
from .files import STUDIO_ONLY, File, MemReader, flow_file, from_worktree, from_zip, write_tree
from .safezip import Limits, read_zip

LABELS = ("worktree", "base", "studio")


@dataclass
class Action:
    path: str
    action: str          # add | update | delete | merge | keep | restore | conflict | studio
    note: str = ""
    conflicts: int = 0
    new: File | None = None      # content to write (None with action 'delete')

    @property
    def writes(self) -> bool:
        return self.action in ("add", "update", "delete", "merge", "restore", "studio") or \
            (self.action == "conflict" and self.new is not None)

    def to_json(self) -> dict:
        return {"path": self.path, "action": self.action, "note": self.note,
                "conflicts": self.conflicts}


@dataclass
class ImportPlan:
    zip_path: str
    flow_rel: str
    flow_file: str
    top_folder: str
    base: Base
    ours: dict
    theirs: dict
    result: dict
    links: set
    actions: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    flow_merge: object = None    # the semantic merge's FileMerge (None: not needed)

    @property
    def conflicts(self) -> int:
        return sum(a.conflicts for a in self.actions)

    def to_json(self) -> dict:
        out = {"zip": self.zip_path, "flow": self.flow_rel, "flow_file": self.flow_file,
               "zip_folder": self.top_folder or None, "base": self.base.to_json(),
               "files": [a.to_json() for a in self.actions],
               "skipped": [{"path": p, "why": w} for p, w in self.skipped],
               "conflicts": self.conflicts}
        if self.flow_merge is not None and self.flow_merge.fallback:
            out["fallback"] = self.flow_merge.fallback
        return out


@dataclass
class Applied:
    recorded: bool               # a new import commit (False: the zip is the last import's tree)
    import_commit: str | None
    import_ref: str
    backup_commit: str | None
    backup_ref: str


def _is_binary(*blobs) -> bool:
    return any(b is not None and b"\x00" in b[:8000] for b in blobs)


def _diff3() -> bool:
    from ...git.textmerge import conflict_style

    return conflict_style() in ("diff3", "zdiff3")


def target_folder(repo, zip_path: str, into: str | None, top_folder: str) -> str:
    from ...git.sides import repo_relative

    if into is None:
        name = top_folder or os.path.splitext(os.path.basename(zip_path))[0]
        into = os.path.join(os.getcwd(), name)
    if os.path.isfile(into) and os.path.basename(into) in FLOW_FILES:
        into = os.path.dirname(os.path.abspath(into))   # the flow file names its folder
    if os.path.lexists(into) and not os.path.isdir(into):
        raise UsageError("not a folder", file=into)
    return repo_relative(repo, into)


def _same(a: File | None, b: File | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a.data == b.data)


def _relayout(b: File, o: File, t: File) -> File | None:
    """The zip's flow file as data, in the worktree's layout (None: nothing changed but the
    formatting). The zip's bytes when the result would not be exactly its data."""
    from ...flow import yamlpos
    from ...merge.files import merge_bytes

    res = merge_bytes(b.data, o.data, t.data, relayout=True)
    try:
        if yamlpos.parse(res.data).data != yamlpos.parse(t.data).data:
            return t
    except Exception:
        return t
    return None if res.data == o.data else File(res.data, o.executable)


def _merge_one(path: str, b: File | None, o: File, t: File, is_flow: bool, diff3: bool) -> tuple:
    """(Action, FileMerge or None) for a file changed on both sides."""
    base = b.data if b is not None else b""
    if is_flow:
        from ...merge.files import merge_bytes

        res = merge_bytes(base, o.data, t.data, diff3=diff3, labels=LABELS)
        n = len(res.conflicts) + res.text_conflicts
        note = "semantic merge" if res.fallback is None else f"text merge: {res.fallback}"
        return Action(path, "conflict" if n else "merge", note, n, File(res.data, o.executable)), res
    if _is_binary(base, o.data, t.data):
        return Action(path, "conflict", "binary file changed on both sides: the worktree's is "
                      "kept, the studio's is in the import ref", 1), None
    from ...git.textmerge import git_merge_file

    try:
        data, n = git_merge_file(base, o.data, t.data, LABELS, diff3)
    except OSError as e:
        return Action(path, "conflict", f"git merge-file failed ({e}): the worktree's is kept", 1), None
    return Action(path, "conflict" if n else "merge", "text merge", n, File(data, o.executable)), None


def _drop_ignored(repo, flow_rel: str, theirs: dict, ffile: str, skipped: list) -> None:
    """The zip's files that the repository's .gitignore ignores are not imported (as export leaves
    them out); the flow file and studio files always are."""
    try:
        from dulwich.ignore import IgnoreFilterManager

        ignore = IgnoreFilterManager.from_repo(repo)
    except Exception:
        return
    prefix = "" if flow_rel == "." else flow_rel + "/"
    for p in sorted(theirs):
        if p == ffile or p in STUDIO_ONLY:
            continue
        try:
            ignored = ignore.is_ignored(prefix + p)
        except Exception:
            ignored = False
        if ignored:
            del theirs[p]
            skipped.append((p, "ignored by .gitignore"))


def _refuse_markers(flow_rel: str, path: str, o: File) -> None:
    """Like git with unmerged paths: a file still holding conflict markers is not merged again."""
    from ...merge.conflicts import has_markers

    if not _is_binary(o.data) and has_markers(o.data.decode("utf-8", "replace").replace("\r\n", "\n")):
        shown = path if flow_rel == "." else f"{flow_rel}/{path}"
        raise UsageError("holds conflict markers: resolve them first (`pfgit conflicts` lists "
                         "those in flow files); nothing written", file=shown)


def plan_import(repo, zip_path: str, into: str | None = None, limits: Limits | None = None) -> ImportPlan:
    content = read_zip(zip_path, limits)
    theirs, top, ffile, skipped = from_zip(content.entries, zip_path)
    flow_rel = target_folder(repo, zip_path, into, top)
    ours, links = from_worktree(repo, flow_rel)
    try:
        ours_ff = flow_file(ours, flow_rel) if ours else None
    except UsageError:
        ours_ff = None
    base = find_base(repo, flow_rel, theirs, ffile)
    if ours_ff and ours_ff != ffile and ours_ff in DAG_FILES and ffile in DAG_FILES:
        # flow.dag.yml here, flow.dag.yaml in the zip: one flow file, under the worktree's name
        theirs[ours_ff] = theirs.pop(ffile)
        if ffile in base.files and ours_ff not in base.files:
            base.files[ours_ff] = base.files.pop(ffile)
        ffile = ours_ff
    _drop_ignored(repo, flow_rel, theirs, ffile, skipped)
    plan = ImportPlan(zip_path, flow_rel, ffile, top, base, ours, theirs, dict(ours), links,
                      skipped=skipped)
    flow_dir = _flow_dir(repo, flow_rel)
    diff3 = _diff3()
    for p in sorted(set(base.files) | set(ours) | set(theirs) | links):
        b, o, t = base.files.get(p), ours.get(p), theirs.get(p)
        if p in STUDIO_ONLY:
            if t is not None and not _same(o, t) and p not in links:
                plan.actions.append(Action(p, "studio", "studio file, taken from the zip", new=t))
            continue
        if p in links:
            if t is not None and not _same(b, t):
                plan.actions.append(Action(p, "conflict", "a symbolic link in the worktree: left "
                                           "alone; the studio's file is in the import ref", 1))
            continue
        if _same(o, t) or _same(b, t):
            continue
        if o is None and t is not None and os.path.lexists(os.path.join(flow_dir, *p.split("/"))):
            # on disk but not part of the flow as git sees it (an ignored or skipped folder)
            plan.actions.append(Action(p, "conflict", "a file the worktree has but git does not "
                                       "see (ignored?): left alone", 1))
            continue
        if _same(b, o):
            if t is None:
                plan.actions.append(Action(p, "delete", "deleted in the studio"))
            elif o is not None and p == ffile and not p.endswith(".prompty"):
                new = _relayout(b, o, t)
                if new is not None:
                    plan.actions.append(Action(p, "update", "the studio's edits, in the "
                                               "worktree's layout", new=new))
            else:
                plan.actions.append(Action(p, "add" if o is None else "update", "", new=t))
            continue
        if t is None:
            plan.actions.append(Action(p, "keep", "changed here, deleted in the studio: kept"))
        elif o is None:
            plan.actions.append(Action(p, "restore", "deleted here, changed in the studio: "
                                       "restored", new=t))
        else:
            _refuse_markers(flow_rel, p, o)
            act, res = _merge_one(p, b, o, t, p == ffile and not p.endswith(".prompty"), diff3)
            if res is not None:
                plan.flow_merge = res
            plan.actions.append(act)
    for a in plan.actions:
        if a.new is not None:
            plan.result[a.path] = a.new
        elif a.action == "delete":
            plan.result.pop(a.path, None)
    return plan


def semantic_diff(plan: ImportPlan) -> list:
    """FlowDiffs from the worktree's flow to what the import would leave (studio files aside)."""
    from ...diff.tree import diff_trees

    def view(files):
        return MemReader({k: v for k, v in files.items() if k not in STUDIO_ONLY}, plan.flow_rel)

    diffs = diff_trees(view(plan.ours), view(plan.result))
    for fd in diffs:
        fd.path = plan.flow_rel
    return diffs


# ----------------------------------------------------------------------------------------------
# Applying a plan


def _flow_dir(repo, flow_rel: str) -> str:
    return repo.path if flow_rel == "." else os.path.join(repo.path, *flow_rel.split("/"))


def _safe_target(flow_dir: str, rel: str) -> str:
    """The path to write `rel` to; refuses one that goes through a symlink or leaves the folder."""
    full = os.path.join(flow_dir, *rel.split("/"))
    d = flow_dir
    for seg in rel.split("/")[:-1]:
        d = os.path.join(d, seg)
        if os.path.islink(d) or (os.path.exists(d) and not os.path.isdir(d)):
            raise UsageError(f"'{rel}': '{os.path.relpath(d, flow_dir)}' in the worktree is a "
                             "symbolic link or a file; nothing written", file=flow_dir)
    if os.path.islink(full) or os.path.isdir(full):
        raise UsageError(f"'{rel}' in the worktree is a symbolic link or a folder; nothing written",
                         file=flow_dir)
    real_dir, real_parent = os.path.realpath(flow_dir), os.path.realpath(os.path.dirname(full))
    if real_parent != real_dir and not real_parent.startswith(real_dir + os.sep):
        raise UsageError(f"'{rel}' would be written outside the flow folder", file=flow_dir)
    return full


def _backup(repo, plan: ImportPlan, message: str) -> tuple:
    """(commit, previous) of the worktree's flow folder as it is now: HEAD's tree with the folder
    replaced, so `git checkout <backup> -- <flow>` brings it back. Includes every file the import
    will touch, tracked or not."""
    from ...git.objects import make_commit, make_tree, put_bytes, replace_subtree
    from ...git.worktree import head_commit, worktree_flow_tree
    from .files import tree_listing

    listing = tree_listing(repo, worktree_flow_tree(repo, plan.flow_rel))
    for a in plan.actions:
        o = plan.ours.get(a.path)
        if a.writes and o is not None:
            listing[a.path] = (o.mode, put_bytes(repo, o.data))
    head = head_commit(repo)
    head_tree = repo[head].tree if head else make_tree(repo, {})
    sub = write_tree(repo, listing) if listing else None
    if plan.flow_rel == ".":
        root = sub or make_tree(repo, {})
    else:
        root = replace_subtree(repo, head_tree, plan.flow_rel, sub)
    ref = ref_name(BACKUPS_PREFIX, plan.flow_rel)
    prev = read_ref(repo, ref)
    parents = ([head] if head else []) + ([prev] if prev else [])
    return make_commit(repo, root, parents, message), prev


def _write(path: str, f: File) -> None:
    """An existing file keeps its mode (zips from Windows carry none); a new one gets the zip's."""
    from ...fsutil import write_atomic

    existed = os.path.exists(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, f.data)
    if not existed and f.executable:
        mode = os.stat(path).st_mode & 0o777
        os.chmod(path, mode | (mode & 0o444) >> 2)   # x where r, as git checks out 755


def _delete(flow_dir: str, path: str) -> None:
    os.unlink(path)
    d = os.path.dirname(path)
    while os.path.abspath(d) != os.path.abspath(flow_dir):
        try:
            os.rmdir(d)   # only when empty, like git
        except OSError:
            break
        d = os.path.dirname(d)


def apply_import(repo, plan: ImportPlan) -> Applied:
    from ...git.objects import make_commit

    imp_ref = ref_name(IMPORTS_PREFIX, plan.flow_rel)
    bak_ref = ref_name(BACKUPS_PREFIX, plan.flow_rel)
    flow_dir = _flow_dir(repo, plan.flow_rel)
    targets = {a.path: _safe_target(flow_dir, a.path) for a in plan.actions if a.writes}
    last = read_ref(repo, imp_ref)
    tree = write_tree(repo, plan.theirs)
    commit = None
    if last is None or repo[last].tree != tree:
        msg = (f"pfgit import-zip {os.path.basename(plan.zip_path)} into {plan.flow_rel}\n\n"
               f"The flow folder as the studio zip holds it.\nbase: {plan.base.describe()}\n")
        commit = make_commit(repo, tree, [last] if last else [], msg)
    backup = None
    if targets:
        backup, prev = _backup(repo, plan, f"pfgit import-zip: {plan.flow_rel} before importing "
                               f"{os.path.basename(plan.zip_path)}\n\nRestore with: git checkout "
                               f"{bak_ref.decode()} -- {plan.flow_rel}\n")
        if not repo.refs.set_if_equals(bak_ref, prev, backup):
            raise UsageError(f"{bak_ref.decode()} changed during the import (another import?); "
                             "nothing written")
    for a in plan.actions:
        if a.path not in targets:
            continue
        try:
            if a.action == "delete":
                _delete(flow_dir, targets[a.path])
            else:
                _write(targets[a.path], a.new)
        except OSError as e:
            raise UsageError(f"cannot write {a.path}: {e.strerror or e}; the worktree as it was "
                             f"is on {bak_ref.decode()}, and running the import again resumes it",
                             file=plan.flow_rel) from None
    if commit is not None and not repo.refs.set_if_equals(imp_ref, last, commit):
        raise UsageError(f"{imp_ref.decode()} changed during the import (another import?); the "
                         "files are written, run the import again to record it")
    return Applied(commit is not None, commit.decode() if commit else (last.decode() if last else None),
                   imp_ref.decode(), backup.decode() if backup else None, bak_ref.decode())

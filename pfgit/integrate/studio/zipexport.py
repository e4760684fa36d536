"""`pfgit export-zip`: a flow folder as the studio takes it, from the worktree, a revision or the
exact flow a run used, as a reproducible zip (same files -> same bytes).

The zip holds one top-level folder named after the flow folder. Entries are sorted, dated
1980-01-01 00:00, marked as Unix files with mode 644 (755 when executable), deflated at level 9;
no directory entries, no extra fields, no comment.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from ...errors import UsageError
from .files import flow_file, from_tree, from_worktree

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class Export:
    flow_rel: str
    source: str                  # worktree | revision | run
    commit: str | None           # the revision's commit, or the run's flow commit
    files: dict                  # {path: File}
    skipped: list = field(default_factory=list)
    run: str | None = None

    @property
    def folder(self) -> str:
        return posixpath.basename(self.flow_rel) if self.flow_rel != "." else "flow"


def collect(repo, path: str | None, rev: str | None = None, run: str | None = None) -> Export:
    """The files of the flow folder at `path` (repo-relative after resolving) from one source."""
    from ...git.objects import tree_at
    from ...git.repo import resolve, utf8_path
    from ...git.sides import repo_relative

    if rev and run:
        raise UsageError("choose one of --rev and --run")
    if run:
        from ...store.read import load_run

        snap = load_run(repo, run)
        entry = snap.files.get("flow")
        flow_rel = snap.flow_path
        if path is not None and repo_relative(repo, path) != flow_rel:
            raise UsageError(f"run '{run}' used the flow at '{flow_rel}', not '{path}'")
        files, skipped = from_tree(repo, entry[1] if entry else None, f"run {run}")
        ex = Export(flow_rel, "run", (snap.run.get("flow") or {}).get("commit"), files, skipped, run)
    elif path is None:
        raise UsageError("export-zip needs the flow folder PATH (or --run NAME)")
    else:
        flow_rel = utf8_path(repo_relative(repo, path))   # a zip's names are UTF-8
        if os.path.isfile(path):
            flow_rel = posixpath.dirname(flow_rel) or "."
        if rev:
            commit = resolve(repo, rev)
            tree = tree_at(repo, repo[commit].tree, flow_rel)
            if tree is None:
                raise UsageError(f"no folder '{flow_rel}' in {rev}")
            files, skipped = from_tree(repo, tree, f"{rev}:{flow_rel}", capped=False)   # ours
            ex = Export(flow_rel, "revision", commit.decode(), files, skipped)
        else:
            if not os.path.isdir(path) and not os.path.isfile(path):
                raise UsageError("no such file or folder", file=path)
            left: list = []
            files, links = from_worktree(repo, flow_rel, left)
            ex = Export(flow_rel, "worktree", None, files,
                        sorted(left + [(p, "symbolic link") for p in links]))
    ff = flow_file(ex.files, path or ex.flow_rel)   # refuses a folder without a flow
    ex.skipped += [(inc, "additional_includes outside the flow folder")
                   for inc in _outside_includes(ex.files[ff].data)]
    for rel in [r for r in ex.files if not _utf8(r)]:   # a zip names its files in UTF-8
        del ex.files[rel]
        ex.skipped.append((rel, "file name is not UTF-8"))
    return ex


def _outside_includes(flow_text: bytes) -> list:
    """The flow's `additional_includes` entries outside its folder (promptflow copies them in
    when it runs the flow; a zip of the folder lacks them)."""
    from ...flow.load import FlowLoadError, parse_flow_bytes

    try:   # pfgit's parser: size and alias-expansion limits for an untrusted file
        data = parse_flow_bytes(flow_text, "flow file").data
    except FlowLoadError:
        return []
    incs = data.get("additional_includes") if isinstance(data, dict) else None
    if not isinstance(incs, list):
        return []
    out = []
    for inc in incs:
        if isinstance(inc, str):
            norm = posixpath.normpath(inc.replace("\\", "/"))
            if norm.startswith("../") or norm == ".." or posixpath.isabs(norm) or re.match(r"^[A-Za-z]:", norm):
                out.append(inc)
    return out


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def zip_bytes(files: dict, folder: str) -> bytes:
    """The reproducible zip of {path: File} below `folder/`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel in sorted(files):
            f = files[rel]
            zi = zipfile.ZipInfo(f"{folder}/{rel}", date_time=FIXED_DATE)
            zi.create_system = 3
            zi.external_attr = ((0o100755 if f.executable else 0o100644) << 16)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, f.data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def write_zip(data: bytes, output: str, force: bool = False) -> None:
    """Write atomically; an existing different file is only replaced with `force`."""
    if os.path.isdir(output):
        raise UsageError("is a folder", file=output)
    if os.path.exists(output) and not force:
        with open(output, "rb") as f:
            if f.read() != data:
                raise UsageError("exists (use --force to replace it)", file=output)
        return
    from ...fsutil import write_output

    write_output(output, data, prefix=".pfgit-zip-")


def export_zip(repo, path: str | None, output: str | None = None, rev: str | None = None,
               run: str | None = None, force: bool = False) -> tuple:
    """(Export, output path, zip size)."""
    ex = collect(repo, path, rev, run)
    data = zip_bytes(ex.files, ex.folder)
    output = output or f"{ex.folder}.zip"
    write_zip(data, output, force)
    return ex, output, len(data)

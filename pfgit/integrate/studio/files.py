"""A flow folder as plain data, `{path below the folder: File}`, from a zip, the worktree or a git
tree; what the studio exchange leaves out; a Reader over such a dict for the flow loader and diff.

Left out in both directions: `.promptflow/` (but `flow.tools.json`), `__pycache__/`, `.runs/`,
`.env*` (secrets), `.git/`, git's own files (`.gitattributes`, `.gitmodules`, `.gitignore`: they
change how git treats the repository's files, which is not the studio's to decide), and a zip's
`__MACOSX/` and `.DS_Store`. Studio-only files are taken
from the zip as they are, never merged and never reported as changes (docs/studio.md).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from dulwich.objects import Blob, Tree

from ...errors import UsageError
from ...flow.model import FLOW_FILES
from ...flow.readers import MappingReader
from .safezip import name_problem

TOOLS_JSON = ".promptflow/flow.tools.json"
# flow.meta.yaml: the studio's description of the flow (brief §8); flow.tools.json: tool meta that
# promptflow regenerates (never hand-merged)
STUDIO_ONLY = ("flow.meta.yaml", TOOLS_JSON)
_ARTEFACT_DIRS = {"__pycache__", ".runs", ".git", "__MACOSX"}
EXEC_MODE, FILE_MODE = 0o100755, 0o100644
MAX_DEPTH = 100  # folders in a flow tree (a fetched run ref nested 3,000 deep hit Python's recursion limit)


@dataclass(frozen=True)
class File:
    data: bytes
    executable: bool = False

    @property
    def mode(self) -> int:
        return EXEC_MODE if self.executable else FILE_MODE

    @property
    def blob_id(self) -> bytes:
        return Blob.from_string(self.data).id


_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
# git's files, also as NTFS short names (GITMOD~1) and as HFS+/NTFS spell them (`.GitAttributes`,
# `.gitmodules.`, `.git\u200cmodules`): what git's fsck checks for the same reason
_GIT_FILES = {".gitattributes": "it would set diff, merge and filter drivers for the repository's files",
              ".gitmodules": "it would name submodules and their URLs",
              ".gitignore": "it would change which files git ignores"}
_GIT_SHORT = re.compile(r"(gitatt|gitmod|gitign)~[1-9]")


def git_file(name: str) -> str | None:
    """Why the path segment `name` is git's own (a `.git` folder, `.gitattributes`, ...), or None."""
    folded = _HFS_IGNORABLE.sub("", name).lower().rstrip(". ")
    if folded in (".git", "git~1"):
        return "git's own folder"
    for short, (full, what) in zip(("gitatt", "gitmod", "gitign"), _GIT_FILES.items()):
        if folded == full or (_GIT_SHORT.fullmatch(folded) and folded.startswith(short)):
            return f"git's own file ({full}): {what}"
    return None


def left_out(rel: str) -> str | None:
    """Why `rel` (below the flow folder) is not part of the exchanged flow, or None."""
    parts = rel.split("/")
    for p in parts:
        why = git_file(p)
        if why:
            return why
    if any(p in _ARTEFACT_DIRS for p in parts[:-1]):
        return "run or build artefact"
    if parts[0] == ".promptflow" and rel != TOOLS_JSON:
        return "promptflow's run artefacts (.promptflow/)"
    if parts[-1].startswith(".env"):
        return "may hold secrets (.env)"
    if parts[-1] == ".DS_Store":
        return "Finder metadata"
    return None


def is_studio_only(rel: str) -> bool:
    return rel in STUDIO_ONLY


class MemReader(MappingReader):
    """A flow Reader over {path: File or bytes} (a flow folder in memory)."""

    def __init__(self, files: dict, display_root: str = "."):
        super().__init__({k: (v.data if isinstance(v, File) else v) for k, v in files.items()},
                         "" if display_root in ("", ".") else display_root.rstrip("/") + "/")


def flow_file(files: dict, where: str) -> str:
    """The flow file at the folder's top, found as promptflow finds it (brief §1.1)."""
    top = {p for p in files if "/" not in p}
    found = [f for f in FLOW_FILES if f in top]
    if len(found) > 1:
        raise UsageError(f"Multiple files {', '.join(found)} exist in the flow folder. "
                         "Please remove the extra YAML file.", file=where)
    if found:
        return found[0]
    prompty = sorted(p for p in top if p.endswith(".prompty"))
    if len(prompty) == 1:
        return prompty[0]
    raise UsageError("no flow in it (no flow.dag.yaml, flow.flex.yaml or single .prompty at its "
                     "top or in its one top-level folder)", file=where)


def from_zip(entries: list, where: str) -> tuple:
    """(files, top folder name or '', flow file, skipped [(path, why)]) of a studio zip: its root
    is the flow folder, or it holds exactly one folder that is."""
    kept = [e.name for e in entries if not left_out(e.name)]
    folders = {n.split("/", 1)[0] for n in kept if "/" in n}
    prefix = ""
    root_files = [n for n in kept if "/" not in n]
    if not any(n in FLOW_FILES or n.endswith(".prompty") for n in root_files) and len(folders) == 1:
        prefix = next(iter(folders))   # files beside it (a README) are left out, and said so
    files, skipped = {}, []
    for e in entries:
        rel = e.name[len(prefix) + 1:] if prefix else e.name
        if prefix and not e.name.startswith(prefix + "/"):
            skipped.append((e.name, "outside the flow folder"))
            continue
        why = left_out(rel)
        if why:
            skipped.append((e.name, why))
            continue
        files[rel] = File(e.data, e.executable)
    return files, prefix, flow_file(files, where), skipped


def from_worktree(repo, flow_rel: str, left: list | None = None) -> tuple:
    """({path: File}, symlinks) of the flow folder in the worktree as `git add -A` sees it, plus
    `.promptflow/flow.tools.json` when present. Symlinks are listed, never read; `left` (a list)
    gets (path, why) of each file the exchange leaves out."""
    from ...git.sides import WorktreeReader

    reader = WorktreeReader(repo)
    top = os.path.join(repo.path, flow_rel) if flow_rel != "." else repo.path
    prefix = "" if flow_rel == "." else flow_rel + "/"
    files, links = {}, set()
    paths = list(reader.walk_files(flow_rel)) if os.path.isdir(top) else []
    if os.path.lexists(os.path.join(top, TOOLS_JSON)):
        paths.append(prefix + TOOLS_JSON)
    for p in paths:
        rel = p[len(prefix):]
        why = left_out(rel)
        if why:
            if left is not None:   # export names them, as from a revision (from_tree)
                left.append((rel, why))
            continue
        full = os.path.join(top, rel)
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                links.add(rel)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(full, "rb") as f:
                files[rel] = File(f.read(), bool(st.st_mode & 0o111))
        except OSError:
            continue
    return files, links


def from_tree(repo, tree_id: bytes | None, where: str = "", exclude: bool = True,
              capped: bool = True) -> tuple:
    """({path: File}, skipped [(path, why)]) of a git tree (symlinks and submodules skipped; with
    `exclude`, what the exchange leaves out too). A fetched ref is untrusted: a name that could not
    be written safely refuses the whole tree, and (`capped`) files over the zip limits too."""
    files, skipped = {}, []
    if tree_id is None:
        return files, skipped

    def obj(sha: bytes, rel: str):
        try:
            return repo[sha]
        except KeyError:  # a shallow or partial clone, or a fetched ref without its objects
            raise UsageError(f"malformed flow tree: '{rel}' is missing from the repository",
                             file=where or None) from None

    from ...git.objects import object_size
    from .safezip import DEFAULT_LIMITS

    total = [0]

    def walk(tid: bytes, prefix: str):
        tree = obj(tid, prefix or ".")
        if not isinstance(tree, Tree) or prefix.count("/") >= MAX_DEPTH:
            raise UsageError(f"malformed flow tree: '{prefix or '.'}' is not a folder"
                             if not isinstance(tree, Tree) else
                             f"malformed flow tree: folders nested deeper than {MAX_DEPTH}",
                             file=where or None)
        for e in tree.iteritems():
            name = e.path.decode("utf-8", "surrogateescape")
            rel = prefix + name
            why = name_problem(rel) if "/" not in name else "slash in a tree entry name"
            if why or name in ("", ".", ".."):
                raise UsageError(f"unsafe path '{rel}' in the flow tree: {why or 'bad name'}",
                                 file=where or None)
            if stat.S_ISDIR(e.mode):
                walk(e.sha, rel + "/")
            elif stat.S_ISLNK(e.mode):
                skipped.append((rel, "symbolic link"))
            elif e.mode & 0o170000 == 0o160000:
                skipped.append((rel, "submodule"))
            else:
                why = left_out(rel) if exclude else None
                if why:
                    skipped.append((rel, why))
                else:
                    # a fetched run's tree may hold a 4 GB file git stores in 4 MB: the zip
                    # limits apply before anything is inflated
                    size = (object_size(repo, e.sha) or 0) if capped else 0
                    total[0] += size
                    if size > DEFAULT_LIMITS.max_entry or total[0] > DEFAULT_LIMITS.max_total:
                        raise UsageError(f"flow tree too big: '{rel}' holds {size:,} bytes (at most "
                                         f"{DEFAULT_LIMITS.max_entry >> 20} MB a file, "
                                         f"{DEFAULT_LIMITS.max_total >> 20} MB in all)",
                                         file=where or None)
                    blob = obj(e.sha, rel)
                    if not isinstance(blob, Blob):   # a file entry naming a tree (hand-made)
                        raise UsageError(f"malformed flow tree: '{rel}' is not a file",
                                         file=where or None)
                    files[rel] = File(blob.data, bool(e.mode & 0o111))

    walk(tree_id, "")
    return files, skipped


def write_tree(repo, files: dict) -> bytes:
    """Store {path: File or (mode, blob id)} as a git tree (blobs and subtrees); returns its id."""
    from ...git.objects import DIR_MODE, make_tree, put_bytes

    nested: dict = {}
    for rel, f in files.items():
        node = nested
        *dirs, name = rel.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = f

    def build(node: dict) -> bytes:
        entries = {}
        for name, v in node.items():
            if isinstance(v, dict):
                entries[name] = (DIR_MODE, build(v))
            elif isinstance(v, File):
                entries[name] = (v.mode, put_bytes(repo, v.data))
            else:
                entries[name] = v
        return make_tree(repo, entries)

    return build(nested)


def tree_listing(repo, tree_id: bytes | None) -> dict:
    """{path: (mode, blob id)} of every non-folder entry below a tree (nothing read)."""
    out: dict = {}

    def walk(tid, prefix):
        for e in repo[tid].iteritems():
            rel = prefix + e.path.decode("utf-8", "surrogateescape")
            if stat.S_ISDIR(e.mode):
                walk(e.sha, rel + "/")
            else:
                out[rel] = (e.mode, e.sha)
    if tree_id is not None:
        walk(tree_id, "")
    return out

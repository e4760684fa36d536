"""Semantic diff of every flow between two trees (two Readers: commits, index, worktree, folders).

Flows are paired by folder. A flow on one side only is diffed against nothing (every node added or
removed). A side whose flow file cannot be read is reported with the side and the reason, and the
flow file is shown as a text diff instead; only when even that is impossible (binary) is there
nothing to show.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..flow.load import FlowLoadError, FlowLocation, find_flows, parse_flow_bytes, walk_flows
from ..flow.readers import SKIP_DIRS, OutsideRepositoryError, join, path_outside
from ..gcpause import gc_paused
from .changes import diff_flows, file_change


@dataclass
class FlowDiff:
    path: str                     # flow folder (repo- or root-relative)
    file: str                     # flow file (new side's name when it exists)
    status: str                   # modified | added | deleted | unreadable | unchanged (only
                                  # formatting changed) | same (identical bytes, not reported)
    changes: list = field(default_factory=list)
    problems: list = field(default_factory=list)   # (side, file, line, message)
    text_diff: str | None = None  # fallback when a side cannot be read
    shown: bool = True            # False: nothing at all could be shown for this flow
    order: list = field(default_factory=list)      # node keys: new file order, then removed ones
    old_path: str | None = None   # the flow's folder before it moved (None: same folder)

    def to_json(self) -> dict:
        out: dict = {"path": self.path, "file": self.file, "status": self.status,
                     "changes": [c.to_json() for c in self.changes]}
        if self.problems:
            out["problems"] = [{"side": s, "file": f, "line": ln, "message": m}
                               for s, f, ln, m in self.problems]
        if self.text_diff is not None:
            out["text_diff"] = self.text_diff
        if self.old_path is not None:
            out["old_path"] = self.old_path
        return out


class EmptyReader:
    """A tree with no files (unborn HEAD, /dev/null)."""

    def read_bytes(self, rel: str) -> bytes:
        raise FileNotFoundError(rel)

    def exists(self, rel: str) -> bool:
        return join(rel) == "."

    def is_dir(self, rel: str) -> bool:
        return join(rel) == "."

    def list_dir(self, rel: str) -> list:
        return []

    def walk_files(self, rel: str) -> Iterator[str]:
        return iter(())

    def display(self, rel: str) -> str:
        return join(rel)


OUTSIDE_TEXT = b"(outside the repository: pfgit does not read it)\n"

# A pull request can add a 4 GB file of zeros that git stores in 4 MB: `pfgit diff` read both
# sides whole (a 300 MB one took 616 MB). Past this size a file is not read: it is shown by its
# size and git blob id (the worktree's hashed in chunks), which still tell whether it changed.
MAX_DIFF_FILE_BYTES = 64 << 20


def read_capped(reader: Any, rel: str) -> bytes:
    """`reader.read_bytes(rel)`, or for a file over MAX_DIFF_FILE_BYTES a line naming it."""
    big = getattr(reader, "oversized", None)
    info = big(rel, MAX_DIFF_FILE_BYTES) if big is not None else None
    if info is not None:
        return (f"(a file of {info[0]:,} bytes, git blob {info[1]}: pfgit does not read files "
                f"over {MAX_DIFF_FILE_BYTES >> 20} MB)\n").encode()
    return reader.read_bytes(rel)


class FolderFiles(Mapping):
    """The files of a flow folder, read on demand; keys relative to the folder ('../x' allowed)."""

    def __init__(self, reader: Any, folder: str, exclude: list | tuple = ()):
        self.reader = reader
        self.folder = folder
        self.exclude = set(exclude)  # folder-relative files that belong to another flow
        self._keys: list | None = None
        self._cache: dict = {}

    def _list(self) -> list:
        if self._keys is None:
            base = join(self.folder)
            prefix = "" if base == "." else base + "/"
            keys = []
            for f in self.reader.walk_files(base):
                rel = f[len(prefix):] if f.startswith(prefix) else f
                parts = rel.split("/")
                if not any(seg in SKIP_DIRS for seg in parts[:-1]) and parts[-1] != ".env":
                    keys.append(rel)  # .env holds secrets (promptflow's convention): never shown
            nested = self._nested_flows({posixpath.dirname(k) for k in keys} - {""})
            self._keys = [k for k in keys if k not in self.exclude
                          and not any(k.startswith(d + "/") for d in nested)]
        return self._keys

    def _nested_flows(self, dirs: set) -> list:
        """Sub-folders that are flows of their own: their files belong to them, not to us."""
        from ..flow.load import flow_file_in

        return [d for d in sorted(dirs) if flow_file_in(self.reader, join(self.folder, d)) is not None]

    def __getitem__(self, rel: str) -> bytes:
        v = self.get(rel)
        if v is None:
            raise KeyError(rel)
        return v

    def get(self, rel: str, default=None):
        if rel not in self._cache:
            p = join(self.folder, rel)
            link = getattr(self.reader, "link_text", None)
            # a symbolic link on disk is its target's path, as git stores it (and as the commit
            # side shows it): read through, an unchanged link read as changed in every diff
            text = link(p) if link is not None and not path_outside(None, p) else None
            try:
                if text is not None:
                    self._cache[rel] = text
                elif path_outside(self.reader, p):  # both sides alike, whatever the reader
                    raise OutsideRepositoryError(p)
                else:
                    self._cache[rel] = None if self.reader.is_dir(p) else read_capped(self.reader, p)
            except OutsideRepositoryError:  # say why instead of showing the file as deleted
                self._cache[rel] = OUTSIDE_TEXT
            except (OSError, KeyError):
                self._cache[rel] = None
        v = self._cache[rel]
        return default if v is None else v

    def __iter__(self):
        return iter(self._list())

    def __len__(self) -> int:
        return len(self._list())


def _text_fallback(path: str, a: bytes | None, b: bytes | None) -> str | None:
    ch = file_change(["files", path], path, a, b)
    if ch is None:
        return ""
    return ch.detail.get("diff")


def _parse(raw: bytes, file: str, cache: dict | None = None, min_bytes: int | None = None):
    """(data, None) or (None, FlowLoadError). Big files go through the node-by-node parse
    (files of `min_bytes` or more: pfgit.history parses every version of a flow with one cache)."""
    from ..flow import yamlpos
    from .parse import CHUNK_MIN_BYTES, parse_data

    if not file.endswith(".prompty") and len(raw) <= yamlpos.MAX_YAML_BYTES:
        try:
            data = parse_data(yamlpos.decode(raw).lstrip("\ufeff"), cache,
                              CHUNK_MIN_BYTES if min_bytes is None else min_bytes)
            return _mapping(data, file)
        except Exception:
            pass  # the full parse below says what is wrong, with its line
    try:
        doc = parse_flow_bytes(raw, file, prompty=file.endswith(".prompty"))
        return _mapping(doc.data, file)
    except FlowLoadError as e:
        return None, e


def _mapping(data: Any, file: str):
    """(data, None) for a mapping (or an empty file); a list or a scalar (a flow file turned
    into a symlink's target text) is not a flow: compared as data it read "no semantic change"
    for any edit, so it is unreadable and its text is diffed."""
    if data is None or isinstance(data, dict):
        return (data if data is not None else {}), None
    kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
    return None, FlowLoadError(file, f"the top level is {kind}, not a mapping of keys", 1,
                               code="not-a-mapping")


def _node_order(old: Any, new: Any) -> list:
    from .match import node_keys

    keys = node_keys((new or {}).get("nodes") if isinstance(new, dict) else None)
    old_keys = node_keys((old or {}).get("nodes") if isinstance(old, dict) else None)
    seen = set(keys)
    return keys + [k for k in old_keys if k not in seen]


def diff_flow_pair(old_reader: Any, old_loc: FlowLocation | None, new_reader: Any,
                   new_loc: FlowLocation | None, with_files: bool = True,
                   display: str | None = None) -> FlowDiff:
    """Diff one flow present on at least one side."""
    loc = new_loc or old_loc
    assert loc is not None
    old_files = _flow_files(old_reader, old_loc) if with_files and old_loc else None
    new_files = _flow_files(new_reader, new_loc) if with_files and new_loc else None
    if old_files is not None and new_files is not None and _prompty_renamed(old_loc, new_loc):
        # a renamed .prompty is the same prompt under a new name: diff its text, not add + delete
        old_files = _Renamed(old_files, posixpath.basename(old_loc.file), posixpath.basename(new_loc.file))
    return diff_flow_bytes(display or loc.dir, loc.file, _read(old_reader, old_loc),
                           _read(new_reader, new_loc), old_files, new_files,
                           old_reader.display(old_loc.file) if old_loc else None,
                           new_reader.display(new_loc.file) if new_loc else None)


def _prompty_renamed(old_loc: FlowLocation | None, new_loc: FlowLocation | None) -> bool:
    return bool(old_loc and new_loc and old_loc.is_prompty and new_loc.is_prompty
                and posixpath.basename(old_loc.file) != posixpath.basename(new_loc.file))


class _Renamed(Mapping):
    """A flow's files with one of them shown under another name."""

    def __init__(self, files: Mapping, old: str, new: str):
        self.files, self.old, self.new = files, old, new

    def _key(self, rel: str) -> str:
        return self.old if rel == self.new else rel

    def __getitem__(self, rel: str):
        if rel == self.old:
            raise KeyError(rel)
        return self.files[self._key(rel)]

    def get(self, rel: str, default=None):
        return default if rel == self.old else self.files.get(self._key(rel), default)

    def __iter__(self):
        return (self.new if k == self.old else k for k in self.files if k != self.new)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _flow_files(reader: Any, loc: FlowLocation) -> FolderFiles:
    if loc.is_prompty:  # a sibling .prompty is a flow of its own, not a file of this one
        return FolderFiles(reader, loc.dir, exclude=_prompty_siblings(reader, loc))
    return FolderFiles(reader, loc.dir)


def diff_flow_bytes(path: str, file: str, a: bytes | None, b: bytes | None,
                    old_files: Any = None, new_files: Any = None,
                    old_display: str | None = None, new_display: str | None = None) -> FlowDiff:
    """Diff two versions of a flow file's bytes (None: absent), with its folder's files."""
    with gc_paused():   # parsing a big flow builds objects the collector would re-walk
        return _diff_flow_bytes(path, file, a, b, old_files, new_files, old_display, new_display)


def _diff_flow_bytes(path: str, file: str, a: bytes | None, b: bytes | None, old_files: Any,
                     new_files: Any, old_display: str | None, new_display: str | None) -> FlowDiff:
    status = "added" if a is None else "deleted" if b is None else "modified"
    fd = FlowDiff(path=path, file=file, status=status)
    da = db = None
    cache: dict = {}  # node texts both versions share are parsed once
    if a is not None:
        da, err = _parse(a, file, cache)
        if err is not None:
            fd.problems.append(("old", old_display or file, err.line, err.message))
    if b is not None:
        db, err = _parse(b, file, cache)
        if err is not None:
            fd.problems.append(("new", new_display or file, err.line, err.message))
    if fd.problems:
        fd.status = "unreadable"
        fd.text_diff = _text_fallback(file, a, b)
        fd.shown = fd.text_diff is not None
        return fd
    fd.changes = diff_flows(da if a is not None else None, db if b is not None else None,
                            old_files, new_files)
    fd.order = _node_order(da, db)
    if file.endswith(".prompty"):  # its text is the prompt: say so rather than "unused file"
        for c in fd.changes:
            if c.is_file and c.path == ["files", posixpath.basename(file)]:
                c.detail["prompt"] = True
    if not fd.changes and status == "modified":
        fd.status = "unchanged" if a != b else "same"  # unchanged: formatting-only edits
    return fd


def _read(reader: Any, loc: FlowLocation | None) -> bytes | None:
    if loc is None:
        return None
    try:
        return read_capped(reader, loc.file)
    except (OSError, KeyError):
        return None


def _flows(reader: Any, paths: list) -> dict:
    """The flows below `paths` by key: the flow's folder, or its .prompty file when the folder
    holds several .prompty flows (each is a flow of its own, as pfgit validate counts them)."""
    out: dict = {}
    for p in paths:
        if not reader.exists(p):
            continue
        locs = find_flows(reader, p)
        if not locs and not reader.is_dir(p):
            locs = _enclosing_flow(reader, p)  # a source file: the flow it belongs to
        for loc in locs:
            if loc.is_prompty and _prompty_siblings(reader, loc):
                out.setdefault(loc.file, loc)
            else:
                out.setdefault(loc.dir, loc)
    return out


def _prompty_siblings(reader: Any, loc: FlowLocation) -> list:
    """The other .prompty files in the folder of the .prompty flow `loc` (flows of their own)."""
    try:
        names = reader.list_dir(loc.dir)
    except (OSError, KeyError):
        return []
    own = posixpath.basename(loc.file)
    return [n for n in names if n.endswith(".prompty") and n != own]


def _enclosing_flow(reader: Any, path: str) -> list:
    import posixpath

    from ..flow.load import flow_file_in

    d = posixpath.dirname(join(path)) or "."
    while True:
        loc = flow_file_in(reader, d)
        if loc is not None:
            return [loc]
        if d == ".":
            return []
        d = posixpath.dirname(d) or "."


def _same_folder(old_reader: Any, new_reader: Any, old_loc, new_loc) -> bool:
    """Cheap equality for git trees: same folder tree id (and no includes from outside)."""
    f1, f2 = getattr(old_reader, "_lookup", None), getattr(new_reader, "_lookup", None)
    if f1 is None or f2 is None or old_loc.file != new_loc.file:
        return False
    e1, e2 = f1(old_loc.dir), f2(new_loc.dir)
    if e1 is None or e2 is None or e1[1] != e2[1]:
        return False
    try:
        return b"additional_includes" not in new_reader.read_bytes(new_loc.file)
    except OSError:
        return False


def diff_trees(old_reader: Any, new_reader: Any, paths: list | None = None,
               with_files: bool = True, include_unchanged: bool = False) -> list:
    """FlowDiffs for every flow below `paths` (reader-relative; default the whole tree). Between
    two git trees a folder with the same tree id on both sides is not walked twice, and its flows
    are not read unless a flow file names additional_includes (_changed_flows)."""
    paths = [join(p) for p in (paths or ["."])]
    both = None if include_unchanged else _changed_flows(old_reader, new_reader, paths)
    old, new = both or (_flows(old_reader, paths), _flows(new_reader, paths))
    moved = _moved(old_reader, {d: old[d] for d in old if d not in new},
                   new_reader, {d: new[d] for d in new if d not in old})
    out = []
    for d in sorted(set(new) | (set(old) - set(moved))):
        o, n = old.get(d), new.get(d)
        if n is not None and o is None and d in moved.values():
            o = old[next(k for k, v in moved.items() if v == d)]
        if o is not None and n is not None and _same_folder(old_reader, new_reader, o, n):
            continue
        fd = diff_flow_pair(old_reader, o, new_reader, n, with_files, display=d)
        if o is not None and n is not None and o.dir != n.dir:
            fd.old_path = o.dir
        elif _prompty_renamed(o, n):
            fd.old_path = o.file
        if fd.status != "same" or include_unchanged or fd.old_path is not None:
            out.append(fd)
    return out


class _Pruned:
    """A git tree's reader whose walk skips each folder the other tree holds with the same tree
    id (listed in `same`)."""

    def __init__(self, reader: Any, other: Any, same: list | None):
        self.reader, self.other, self.same = reader, other, same

    def __getattr__(self, name: str):
        return getattr(self.reader, name)

    def walk_files(self, rel: str) -> Iterator[str]:
        r = self.reader
        for name in r.list_dir(rel):
            p = join(rel, name)
            if r.is_dir(p):
                if name in SKIP_DIRS:
                    continue
                o = self.other._lookup(p)
                if o is not None and o[1] == r._lookup(p)[1] and stat.S_ISDIR(o[0]):
                    if self.same is not None:
                        self.same.append(p)
                    continue
                yield from self.walk_files(p)
            elif r.exists(p):
                yield p


def _changed_flows(old_reader: Any, new_reader: Any, paths: list) -> tuple | None:
    """(old, new) as _flows gives them for two git trees, less the flows diff_trees would skip
    unread: those of folders with the same tree id on both sides (_same_folder; a flow with
    additional_includes is kept, its includes may have changed). None: not two git trees."""
    from ..git.repo import TreeReader

    if not (isinstance(old_reader, TreeReader) and isinstance(new_reader, TreeReader)):
        return None
    same: list = []
    old = _flows(_Pruned(old_reader, new_reader, same), paths)
    new = _flows(_Pruned(new_reader, old_reader, None), paths)
    # the flows of the skipped folders, found once (they are alike on both sides); only a flow
    # file that is unreadable or names additional_includes is read on
    for u in sorted(set(same)):
        for loc in walk_flows(new_reader, u):
            if _same_folder(old_reader, new_reader, loc, loc):
                continue
            key = loc.file if loc.is_prompty and _prompty_siblings(new_reader, loc) else loc.dir
            old.setdefault(key, loc)
            new.setdefault(key, loc)
    return old, new


MOVE_SIMILARITY = 0.5  # share of node names two flows must have in common to be one moved flow


def _moved_flows(old_reader: Any, gone: list, new_reader: Any, came: list) -> dict:
    """old dir -> new dir for flows that moved folder: same file, or mostly the same nodes."""
    return _moved(old_reader, {loc.dir: loc for loc in gone}, new_reader, {loc.dir: loc for loc in came})


def _moved(old_reader: Any, gone: dict, new_reader: Any, came: dict) -> dict:
    """old key -> new key (see _flows) for flows that moved: same file, or mostly the same nodes."""
    if not gone or not came:
        return {}
    from .match import node_keys

    def sig(reader, loc):
        raw = _read(reader, loc)
        if loc.is_prompty:   # a prompt has no nodes: its lines
            return raw, _line_counts(raw) if raw is not None else None
        data, _ = _parse(raw, loc.file) if raw is not None else (None, None)
        nodes = data.get("nodes") if isinstance(data, dict) else None
        return raw, set(node_keys(nodes))

    a = {k: sig(old_reader, loc) for k, loc in gone.items()}
    b = {k: sig(new_reader, loc) for k, loc in came.items()}
    scored = []
    for od, (oraw, onames) in a.items():
        for nd, (nraw, nnames) in b.items():
            if oraw is not None and oraw == nraw:
                score = 1.0
            elif gone[od].is_prompty != came[nd].is_prompty:
                score = 0.0
            elif gone[od].is_prompty:
                score = _text_similarity(onames, nnames) if onames and nnames else 0.0
            else:
                score = len(onames & nnames) / max(1, len(onames | nnames))
            if score >= MOVE_SIMILARITY:
                scored.append((-score, od, nd))
    out: dict = {}
    for _, od, nd in sorted(scored):
        if od not in out and nd not in out.values():
            out[od] = nd
    return out


def _line_counts(raw: bytes) -> tuple:
    """(line -> count, number of lines) of a prompt, for _text_similarity."""
    from collections import Counter

    lines = raw.splitlines()
    return Counter(lines), len(lines)


def _text_similarity(a: tuple, b: tuple) -> float:
    """The share of lines two prompts have in common (2 * common / all, in any order), from
    their _line_counts: linear, as git's rename detection. difflib's ratio() was quadratic:
    two 3,000-line prompts of repeated lines took 147 s for one pair (a pull request's rename
    stalled pfgit diff and CI)."""
    (ca, na), (cb, nb) = a, b
    if ca is None or cb is None or not na + nb:
        return 0.0
    small, big = (ca, cb) if len(ca) <= len(cb) else (cb, ca)
    common = sum(min(n, big.get(line, 0)) for line, n in small.items())
    return 2 * common / (na + nb)


# public for pfgit.history: follow a flow moved to another folder; parse every version of a flow
moved_flows = _moved_flows
parse_flow_data = _parse

__all__ = ["moved_flows", "FlowDiff", "EmptyReader", "FolderFiles", "diff_flow_pair", "diff_flow_bytes", "diff_trees"]

"""Flow versions read from git objects, and their summaries and fields.

A version is a flow folder at a commit (a `Step`). Reading one parses its flow file; every version
of a walk shares one cache of node texts (pfgit.diff.parse), so a version that changed one node
parses one node. Blobs are cached by id: a history holds few distinct source files.

A summary (cached in the index by version key) says whether the flow file parses, its node keys
and, per node or variant body, the source file it runs (repo-relative) and that file's blob id.
"""

from __future__ import annotations

import posixpath
import stat
from typing import Any

from ..diff.tree import parse_flow_data
from ..flow.entry import EntryPathError, entry_location
from ..flow.model import FLOW_FILES
from ..flow.readers import join
from ..git.batch import CatFile, blob_ids, parse_commit, parse_tree

TEXT_PROMPT = (".jinja2", ".j2", ".prompty", ".md", ".txt")


_ABSENT = False  # a path known not to exist in a root tree


class Versions:
    """Reads flow versions of one repository (caches shared across a whole walk).

    Objects come from one `git cat-file --batch` (pfgit.git.batch), dulwich when git cannot
    answer; `preload` reads a whole history's commits, flow folders and flow files in three
    bulk requests before a walk that has nothing cached."""

    def __init__(self, repo):
        self.repo = repo
        self.cat = CatFile(repo.controldir())
        self._log: dict = {}  # commit id -> CommitInfo, from preload
        self._dirs: dict = {}  # (root tree, folder) -> (mode, id) | _ABSENT, from preload
        self._blobs: dict = {}
        self._parsed: dict = {}
        self._node_texts: dict = {}
        self._readers: dict = {}
        self._trees: dict = {}
        self._bodies: dict = {}
        self._keys: dict = {}
        self._node_src: dict = {}
        self._flow_files: dict = {}
        self._commits: dict = {}
        self._raw_trees: dict = {}  # tree id -> raw tree read ahead, parsed when first used

    def reader(self, root: str):
        """A flow Reader of a root tree (dulwich: for the rare moved-flow search)."""
        from ..git.repo import TreeReader

        r = self._readers.get(root)
        if r is None:
            if len(self._readers) > 64:  # a walk moves on: keep memory bounded
                self._readers.clear()
            r = self._readers[root] = TreeReader(self.repo, root.encode())
        return r

    def commit(self, sha: str):
        """A commit's CommitInfo; KeyError when it is missing or not a commit. Outside a preloaded
        history the last few are kept (a walk reads each commit as a parent, then as a step)."""
        c = self._log.get(sha) or self._commits.get(sha)
        if c is None:
            if len(self._commits) > 16:
                self._commits.clear()
            got = self.cat.get(sha)
            if got is None and self.cat.broken:
                obj = self.repo[sha.encode()]
                got = (obj.type_name.decode(), obj.as_raw_string())
            if got is None or got[0] != "commit":
                raise KeyError(sha)
            c = self._commits[sha] = parse_commit(got[1])
        return c

    def preload(self, head: str, path: str, first_parent: bool) -> None:
        """Read ahead what a walk from `head` over the flow folder `path` needs: every commit
        (one `git log`), the folder in each root tree, those folders' trees and flow files."""
        from . import readahead

        got = readahead.take(self.git_dir, head, path, first_parent)  # begun early by the light path
        if got is None:
            got = readahead.read_history(self.git_dir, head, path, first_parent)
        if got is None:
            return
        self._log.update(got["commits"])
        raw_trees, known = {}, set()
        for r, hit in got["folders"].items():
            if hit is None:
                self._dirs[(r, path)] = _ABSENT
            elif hit[0] == "tree":
                t = hit[1].encode()
                self._dirs[(r, path)] = (stat.S_IFDIR, t)
                if t in self._trees:
                    known.add(t)
                else:
                    raw_trees[t] = hit[2]
        # parsed when a walk first needs them: a walk split in two processes (pfgit.history.ahead)
        # parses each tree in one of them
        self._raw_trees.update(raw_trees)
        # the folders' files: flow files, and the small ones a walk may read (node sources)
        for bid, raw in got["blobs"].items():
            self._blobs.setdefault(bid, raw)
        if got["sizes"] is None:  # git could not list them: from the trees
            want = blob_ids(raw_trees.values()).union(
                *({bid.decode() for mode, bid in self._trees[t].values() if not stat.S_ISDIR(mode)}
                  for t in known))
            sizes = self.cat.check_many(sorted(want))
            budget, fetch = readahead.PRELOAD_BYTES, []
            for bid, (kind, _, size) in sizes.items():
                if kind == "blob" and bid not in self._blobs and size <= budget:
                    fetch.append(bid)
                    budget -= size
            for bid, (kind, _, raw) in (self.cat.read_all(fetch) or {}).items():
                if kind == "blob":
                    self._blobs[bid] = raw

    def chain(self):
        """The commits read ahead, in git log's order (first parents: the chain, newest first)."""
        return iter(self._log)

    @property
    def git_dir(self) -> str:
        return self.repo.controldir()

    def close(self) -> None:
        self.cat.close()

    def entries(self, tree: str) -> dict:
        """{name: (mode, sha)} of a tree (bytes keys), parsed once per walk."""
        try:
            return self._entries(tree.encode())
        except (KeyError, ValueError):
            return {}

    def _entries(self, tree: bytes) -> dict:
        e = self._trees.get(tree)
        if e is None:
            if len(self._trees) > 50_000:
                self._trees.clear()
            raw = self._raw_trees.pop(tree, None)
            got = ("tree", raw) if raw is not None else self.cat.get(tree)
            if got is not None and got[0] == "tree":
                e = parse_tree(got[1])
            elif got is None and self.cat.broken:
                e = {it.path: (it.mode, it.sha) for it in self.repo[tree].iteritems()}
            else:
                raise KeyError(tree)
            self._trees[tree] = e
        return e

    def lookup(self, root: str, rel: str) -> tuple | None:
        """(mode, id) of the entry at repo-relative `rel` in root tree `root` (parsed trees are
        shared by every version: a walk reads each tree once, not once per file)."""
        parts = rel.split("/")
        if any(seg in ("", ".", "..") for seg in parts):
            parts = join(rel).split("/")
            if parts[0] == ".":
                return (stat.S_IFDIR, root.encode())
            if parts[0] == "..":
                return None  # outside the repository
        mode, cur = stat.S_IFDIR, root.encode()
        for j in range(len(parts), 0, -1) if self._dirs else ():  # from a preloaded folder
            hit = self._dirs.get((root, "/".join(parts[:j])))
            if hit is _ABSENT:
                return None
            if hit is not None:
                (mode, cur), parts = hit, parts[j:]
                break
        try:
            for seg in parts:
                if not stat.S_ISDIR(mode):
                    return None
                ent = self._entries(cur).get(seg.encode())
                if ent is None:
                    return None
                mode, cur = ent
        except (KeyError, ValueError):
            return None
        return mode, cur

    def blob_id(self, root: str, rel: str) -> str | None:
        e = self.lookup(root, rel)
        return None if e is None or stat.S_ISDIR(e[0]) else e[1].decode()

    def flow_file(self, root: str, path: str) -> tuple | None:
        """(folder tree id, flow file path) of the dag/flex flow in folder `path`, else None
        (promptflow's order of flow file names, as pfgit.flow.load.flow_file_in)."""
        key = (root, path)
        if key not in self._flow_files:  # a walk asks for each commit twice: as parent, as step
            if len(self._flow_files) > 100_000:
                self._flow_files.clear()
            self._flow_files[key] = self._flow_file(root, path)
        return self._flow_files[key]

    def _flow_file(self, root: str, path: str) -> tuple | None:
        e = self.lookup(root, path)
        if e is None or not stat.S_ISDIR(e[0]):
            return None
        names = self._entries(e[1])
        for f in FLOW_FILES:
            ent = names.get(f.encode())
            if ent is not None and not stat.S_ISDIR(ent[0]):
                return e[1].decode(), join(path, f)
        return None

    def blob(self, bid: str) -> bytes | None:
        data = self._blobs.get(bid)
        if data is None:
            got = self.cat.get(bid)
            if got is not None:
                data = got[1] if got[0] == "blob" else None
            elif self.cat.broken:
                try:
                    data = self.repo[bid.encode()].data
                except KeyError:  # missing object (partial clone)
                    return None
            if data is None:
                return None
            self._blobs[bid] = data
        return data

    def read(self, root: str, rel: str) -> bytes | None:
        bid = self.blob_id(root, rel)
        return self.blob(bid) if bid else None

    def files(self, step) -> Any:
        """The step's flow folder files as pfgit.diff wants them: folder-relative path -> bytes.
        Files directly in the folder come from its tree's entries (one dict lookup: a diff asks
        for every node's file in every version); others are looked up from the root."""
        prefix = "" if step.path == "." else step.path + "/"
        try:
            here = self._entries(step.tree.encode())
        except (KeyError, ValueError):
            here = {}

        def get(rel: str) -> bytes | None:
            ent = here.get(rel.encode()) if "/" not in rel else None
            if ent is not None:
                return None if stat.S_ISDIR(ent[0]) else self.blob(ent[1].decode())
            return self.read(step.root, prefix + rel)
        get.blob_id = lambda rel: (here[rel.encode()][1].decode() if "/" not in rel and rel.encode() in here
                                   else self.blob_id(step.root, prefix + rel))
        return get

    def flow_blob(self, step) -> str | None:
        """The blob id of the step's flow file (an entry of its folder's tree)."""
        try:
            ent = self._entries(step.tree.encode()).get(posixpath.basename(step.file).encode())
        except (KeyError, ValueError):
            ent = None
        return ent[1].decode() if ent is not None and not stat.S_ISDIR(ent[0]) else None

    def data(self, step) -> tuple:
        """(parsed flow data, None) or (None, "file:line: message")."""
        bid = self.flow_blob(step)
        if bid in self._parsed:
            return self._parsed[bid]
        raw = self.blob(bid) if bid else None
        if raw is None:
            res = (None, f"{step.file}: cannot be read")
        else:
            data, err = parse_flow_data(raw, step.file, self._node_texts, min_bytes=0)
            if err is not None:
                where = f"{step.file}:{err.line}" if err.line else step.file
                res = (None, f"{where}: {err.message}")
            else:
                res = (data if isinstance(data, dict) else {}, None)
        if bid:
            self._parsed[bid] = res
        return res

    def node_keys(self, nodes) -> list:
        """pfgit.diff.match.node_keys, once per parsed `nodes` list."""
        from ..diff.match import node_keys

        hit = self._keys.get(id(nodes))
        if hit is None or hit[0] is not nodes:
            hit = self._keys[id(nodes)] = (nodes, node_keys(nodes))
        return hit[1]

    def body_sources(self, data: dict) -> dict:
        """pfgit.diff's body -> source path map of parsed data, once per flow file version."""
        key = id(data)
        hit = self._bodies.get(key)
        if hit is None or hit[0] is not data:
            from ..diff.changes import body_sources, node_source

            nodes = data.get("nodes")
            entry = entry_source(data)
            if entry is not None:  # a flex flow: its code is the entry's module
                res = {ENTRY: entry}
            elif data.get("node_variants") or not isinstance(nodes, list):
                res = body_sources(data)
            else:  # without variants a node's source is its own: found once per node object
                res = {}
                for k, raw in zip(self.node_keys(nodes), nodes):
                    m = self._node_src.get(id(raw))
                    if m is None or m[0] is not raw:
                        m = self._node_src[id(raw)] = (raw, node_source(raw))
                    if m[1]:
                        res[("nodes", k)] = m[1]
            hit = self._bodies[key] = (data, res)
        return hit[1]

    def body_source(self, step, body: tuple) -> tuple | None:
        """What `summarize` lists for one body: (repo-relative source file, blob id), or None."""
        from ..diff.changes import resolve_source

        data, err = self.data(step)
        if err is not None:
            return None
        for b, rel in self.body_sources(data).items():
            if tuple(str(p) for p in b) == body:
                files = self.files(step)
                loc = resolve_source(rel, data, files)
                return join(step.path, loc), files.blob_id(loc)
        return None

    def summarize(self, step) -> dict:
        from ..diff.changes import resolve_source
        data, err = self.data(step)
        out: dict = {"file": step.file, "flow_blob": self.flow_blob(step)}
        if err is not None:
            out.update(readable=False, error=err)
            return out
        files = self.files(step)
        sources = []
        for body, rel in self.body_sources(data).items():
            loc = resolve_source(rel, data, files)
            sources.append([[str(p) for p in body], join(step.path, loc), files.blob_id(loc)])
        nodes = data.get("nodes")
        out.update(readable=True, nodes=self.node_keys(nodes), sources=sources,
                   kind="flex" if "entry" in data else "dag")  # promptflow decides by content
        return out


ENTRY = ("entry",)  # the body of a flex flow: its entry's module file


def entry_source(data) -> str | None:
    """The module file (folder-relative) a flex flow's `entry: module:function` runs, else None
    (a DAG flow, an entry that names no module file, a `code` folder outside the flow folder)."""
    try:
        loc = entry_location(data)
    except EntryPathError:
        return None
    return None if loc is None else loc.file


def source_kind(rel: str) -> str:
    """What a node's source file is called in fields and summaries: its prompt or its code."""
    return "prompt" if rel.lower().endswith(TEXT_PROMPT) else "code"


# ---------------------------------------------------------------------------------------------
# Fields: what blame reports on, one per input/output field, node field, variant field, source

FILE = "file"  # last segment of a body's source-file field (as in pfgit.diff's file changes)


def _body_fields(prefix: tuple, raw: Any, out: list) -> None:
    if not isinstance(raw, dict):
        out.append((prefix, raw))
        return
    for f, v in raw.items():
        if f == "name" and prefix[0] == "nodes":
            continue  # the node's key, in every path
        if f == "inputs" and isinstance(v, dict) and v:
            out += [(prefix + ("inputs", str(k)), iv) for k, iv in v.items()]
        else:
            out.append((prefix + (str(f),), v))


def flow_fields(data: dict, sources: list) -> list:
    """[(path tuple, value)] of every field of a flow version, in file order. A body whose source
    file exists gets a field BODY + ("file",) whose value is its repo-relative path."""
    from ..diff.match import node_keys

    files = {tuple(b): rel for b, rel, bid in sources if bid}
    out: list = []
    for k, v in data.items():
        k = str(k)
        if k == "entry" and ENTRY in files:
            out += [((k,), v), ((k, FILE), files[ENTRY])]
        elif k in ("inputs", "outputs") and isinstance(v, dict) and v:
            for name, spec in v.items():
                if isinstance(spec, dict) and spec:
                    out += [((k, str(name), str(f)), fv) for f, fv in spec.items()]
                else:
                    out.append(((k, str(name)), spec))
        elif k == "nodes" and isinstance(v, list):
            for key, raw in zip(node_keys(v), v):
                _body_fields(("nodes", key), raw, out)
                if ("nodes", key) in files:
                    out.append((("nodes", key, FILE), files[("nodes", key)]))
        elif k == "node_variants" and isinstance(v, dict):
            for key, entry in v.items():
                key = str(key)
                if not isinstance(entry, dict):
                    out.append(((k, key), entry))
                    continue
                for f, fv in entry.items():
                    if f == "variants" and isinstance(fv, dict):
                        for vid, var in fv.items():
                            body = (k, key, "variants", str(vid), "node")
                            if isinstance(var, dict) and isinstance(var.get("node"), dict):
                                _body_fields(body, var["node"], out)
                                if body in files:
                                    out.append((body + (FILE,), files[body]))
                            else:
                                out.append(((k, key, "variants", str(vid)), var))
                    else:
                        out.append(((k, key, str(f)), fv))
        elif isinstance(v, dict) and v:
            out += [((k, str(sk)), sv) for sk, sv in v.items()]
        else:
            out.append(((k,), v))
    return out


def field_label(path: tuple | list, file: str | None = None) -> str:
    """How a field is shown: nodes.answer.inputs.style, nodes.s.variants.v1.api, nodes.a.prompt."""
    p = [str(x) for x in path]
    if p[:1] == ["node_variants"] and len(p) >= 5 and p[2] == "variants" and p[4:5] == ["node"]:
        p = ["nodes", p[1], "variants", p[3]] + p[5:]
    elif p[:1] == ["node_variants"]:
        p = ["nodes", p[1]] + p[2:] if len(p) > 2 else p
    if p and p[-1] == FILE and p[0] in ("nodes", "entry"):
        p[-1] = source_kind(file or "")
    return ".".join(p)


def node_of(path: tuple | list) -> str | None:
    """The node key a field or change path belongs to (None: not a node's)."""
    if len(path) >= 2 and path[0] in ("nodes", "node_variants"):
        return str(path[1])
    return None


__all__ = ["Versions", "flow_fields", "field_label", "node_of", "source_kind", "entry_source", "FILE",
           "ENTRY"]

"""Bulk reads of git objects through the git binary, for walks over long histories.

A history walk reads thousands of commits, trees and blobs; one `git log` for the commits' headers
and one long-lived `git cat-file --batch` for trees and blobs read them several times faster than
dulwich's pure-Python pack reads (bench/history.py). Only object ids go to git, on stdin, checked
to be ids; the revision `git log` starts from is a commit id, after --end-of-options. Replace
refs are ignored (`--no-replace-objects`), as dulwich ignores them.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from binascii import hexlify
from dataclasses import dataclass

_OID = re.compile(rb"^[0-9a-f]{40}([0-9a-f]{24})?$")
_CHUNK = 500  # requests written before their answers are read: 500 ids fit in a pipe's buffer


@dataclass
class CommitInfo:
    """What a history walk needs of a commit (ids as hex str)."""

    tree: str
    parents: list
    author: str  # "Name <email>"
    time: int
    tz: int  # seconds east of UTC
    summary: str  # first line of the message


def _tz(s: str) -> int:
    s = s.strip()
    if len(s) != 5 or s[0] not in "+-" or not s[1:].isdigit():
        return 0
    secs = int(s[1:3]) * 3600 + int(s[3:5]) * 60
    return -secs if s[0] == "-" else secs


def parse_commit(raw: bytes) -> CommitInfo:
    """A raw commit object's headers and first message line."""
    head, _, msg = raw.partition(b"\n\n")
    tree, parents, author, when, tz = "", [], "", 0, 0
    for line in head.split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:].decode()
        elif line.startswith(b"parent "):
            parents.append(line[7:].decode())
        elif line.startswith(b"author "):
            who, _, rest = line[7:].rpartition(b"> ")
            author = who.decode("utf-8", "replace") + ">"
            t, _, z = rest.partition(b" ")
            when = int(t) if t.isdigit() else 0
            tz = _tz(z.decode("ascii", "replace"))
    summary = msg.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return CommitInfo(tree, parents, author, when, tz, summary)


_ENTRY = re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.S)
_RAW_ENTRY = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.S)

_ENTRIES: dict = {}  # raw entry -> (name, (mode, hex id)): a history's trees share most entries


def _entry(e: bytes) -> tuple:
    mode, _, rest = e.partition(b" ")
    v = _ENTRIES[e] = (rest[:-21], (int(mode, 8), hexlify(rest[-20:])))  # name \0 20-byte id
    return v


def parse_tree(raw: bytes) -> dict:
    """{name (bytes): (mode, id as hex bytes)} of a raw (SHA-1) tree object."""
    if len(_ENTRIES) > 200_000:
        _ENTRIES.clear()
    seen = _ENTRIES.get
    entries = [seen(e) or _entry(e) for e in _RAW_ENTRY.findall(raw)]
    out = dict(entries)
    if len(out) != len(entries):  # two entries of one name: refused (pfgit/git/trees.py)
        from .trees import refuse

        raise refuse(raw)
    return out


def blob_ids(raw_trees) -> set:
    """The ids (hex str) of the entries that are not trees (files, links, submodules: mode 1...)
    of raw (SHA-1) trees, in one pass over them all (a history's trees share most entries)."""
    entries = set(_ENTRY.findall(b"".join(raw_trees)))
    return {hexlify(i).decode() for mode, _, i in entries if mode[:1] == b"1"}


class FolderBlobs:
    """The blobs (id -> size) of a folder's history: `git rev-list --objects` of the commits from
    `head` limited to the folder, piped straight into `git cat-file --batch-check`. Started at
    once, so git lists them while the caller reads commits and trees; `result()` collects them.
    The folder is a literal pathspec after `--`, the commit an id after --end-of-options."""

    def __init__(self, git_dir: str, head: str, path: str, first_parent: bool):
        self._procs: list = []
        if not _OID.match(head.encode()):
            return
        base = ["git", "--git-dir", git_dir, "--no-replace-objects", "--literal-pathspecs"]
        args = base + ["rev-list", "--objects", "--no-object-names"]
        if first_parent:
            args.append("--first-parent")
        try:
            rl = subprocess.Popen(args + ["--end-of-options", head, "--", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._procs.append(rl)
            ck = subprocess.Popen(base + ["cat-file", "--batch-check=%(objecttype) %(objectname) %(objectsize)"],
                                  stdin=rl.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._procs.append(ck)
        except OSError:
            self._procs = []
        finally:
            if self._procs:
                self._procs[0].stdout.close()  # cat-file's now: rev-list sees a closed pipe

    def result(self) -> dict | None:
        """{blob id (hex str): size}; None when git failed (the caller lists them itself)."""
        if len(self._procs) != 2:
            for p in self._procs:
                p.wait()
            return None
        rl, ck = self._procs
        out = ck.stdout.read()
        ck.stdout.close()
        if rl.wait() or ck.wait():
            return None
        blobs = {}
        for line in out.split(b"\n"):
            parts = line.split()
            if len(parts) == 3 and parts[0] == b"blob" and _OID.match(parts[1]):
                blobs[parts[1].decode()] = int(parts[2])
        return blobs


def _run_with_input(args: list, names: list) -> subprocess.CompletedProcess:
    """`args` run with `names` on stdin, one a line, from a temporary file: its output (megabytes
    for a history) is then read in one go, not through communicate()'s poll loop."""
    with tempfile.TemporaryFile() as f:
        f.write(b"".join(n.encode("utf-8", "surrogateescape") + b"\n" for n in names))
        f.seek(0)
        return subprocess.run(args, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


class CatFile:
    """One `git cat-file --batch` process for a repository, started on first use."""

    def __init__(self, git_dir: str):
        self.git_dir = git_dir
        self._p: subprocess.Popen | None = None
        self.broken = False

    def _proc(self) -> subprocess.Popen:
        if self._p is None:
            self._p = subprocess.Popen(
                ["git", "--git-dir", self.git_dir, "--no-replace-objects", "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._p

    def get_many(self, ids) -> dict:
        """{id: (type, content)} of the objects that exist (ids as hex str or bytes)."""
        want = [i.encode() if isinstance(i, str) else i for i in dict.fromkeys(ids)]
        want = [i for i in want if _OID.match(i)]
        out: dict = {}
        if not want or self.broken:
            return out
        try:
            p = self._proc()
            for k in range(0, len(want), _CHUNK):
                chunk = want[k:k + _CHUNK]
                p.stdin.write(b"".join(i + b"\n" for i in chunk))
                p.stdin.flush()
                for oid in chunk:
                    header = p.stdout.readline()
                    parts = header.split()
                    if len(parts) != 3:  # "<id> missing", or git went away
                        if not header:
                            raise OSError("git cat-file ended")
                        continue
                    size = int(parts[2])
                    data = p.stdout.read(size + 1)[:size]
                    out[oid.decode()] = (parts[1].decode(), data)
        except (OSError, ValueError):
            self.broken = True  # callers fall back to their other reader
            self.close()
        return out

    def get(self, oid) -> tuple | None:
        return self.get_many([oid]).get(oid.decode() if isinstance(oid, bytes) else oid)

    def read_all(self, names: list) -> dict | None:
        """{name: (type, id, content)} for object names such as `<tree>:<path>` or ids, in one
        buffered `git cat-file --batch` (faster than the pipe for a known list); None when git
        failed (absent names are then unknown, not missing)."""
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        if any("\n" in n for n in names):
            return None
        try:
            p = _run_with_input(["git", "--git-dir", self.git_dir, "--no-replace-objects", "cat-file",
                                 "--batch", "--buffer"], names)
        except OSError:
            return None
        if p.returncode:
            return None
        buf, pos, out = p.stdout, 0, {}
        for name in names:
            eol = buf.find(b"\n", pos)
            if eol < 0:
                return None
            parts = buf[pos:eol].split()
            pos = eol + 1
            if len(parts) != 3 or not _OID.match(parts[0]):
                continue  # "<name> missing" / "ambiguous"
            size = int(parts[2])
            out[name] = (parts[1].decode(), parts[0].decode(), buf[pos:pos + size])
            pos += size + 1
        return out

    def check_many(self, names: list) -> dict:
        """{name: (type, id, size)} for object names such as `<tree>:<path>` or ids (one
        `git cat-file --batch-check`)."""
        if not names or any("\n" in n for n in names):  # one name a line
            return {}
        try:
            p = _run_with_input(["git", "--git-dir", self.git_dir, "--no-replace-objects", "cat-file",
                                 "--batch-check=%(objecttype) %(objectname) %(objectsize)"], names)
        except OSError:
            return {}
        lines = p.stdout.split(b"\n")
        out = {}
        for name, line in zip(names, lines):
            parts = line.split()
            if len(parts) == 3 and parts[0] in (b"tree", b"blob", b"commit") and _OID.match(parts[1]):
                out[name] = (parts[0].decode(), parts[1].decode(), int(parts[2]))
        return out

    def close(self) -> None:
        p, self._p = self._p, None
        if p is not None:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def log_commits(git_dir: str, head: str, first_parent: bool) -> dict:
    """{sha: CommitInfo} of the commits reachable from commit `head` (first parents only when
    asked), in one `git log`; {} when git fails (callers then read commits one by one)."""
    if not _OID.match(head.encode()):
        return {}
    args = ["git", "--git-dir", git_dir, "--no-replace-objects", "-c", "log.showSignature=false",
            "log", "-z", "--no-color", "--no-decorate", "--no-mailmap", "--date=raw",
            "--format=%H%x00%T%x00%P%x00%an <%ae>%x00%ad%x00%B"]
    if first_parent:
        args.append("--first-parent")
    try:
        p = subprocess.run(args + ["--end-of-options", head], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    except OSError:
        return {}
    if p.returncode:
        return {}
    fields = p.stdout.split(b"\0")
    out = {}
    for k in range(0, len(fields) - 5, 6):
        sha, tree, parents, author, date, msg = fields[k:k + 6]
        t, _, z = date.decode("ascii", "replace").partition(" ")
        out[sha.decode()] = CommitInfo(
            tree.decode(), parents.decode().split(), author.decode("utf-8", "replace"),
            int(t) if t.isdigit() else 0, _tz(z),
            msg.split(b"\n", 1)[0].decode("utf-8", "replace").strip())
    return out


__all__ = ["CatFile", "CommitInfo", "FolderBlobs", "blob_ids", "log_commits", "parse_commit", "parse_tree"]

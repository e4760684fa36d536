"""Writing and reading git objects for run snapshots: lock-safe puts, streamed blobs, trees, commits.

Loose objects are written to a temporary file and renamed into place, so a crash never leaves a
half-written object under its final name, and objects are always complete before any ref names them.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import time
import zlib
from typing import Iterable, Iterator

from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo, get_user_identity

FILE_MODE = 0o100644
DIR_MODE = stat.S_IFDIR


def put_object(repo: Repo, obj) -> bytes:
    """Store `obj` unless present. Safe when another process writes the same object at once."""
    store = repo.object_store
    if obj.id in store:
        return obj.id
    for _ in range(200):
        try:
            store.add_object(obj)
            return obj.id
        except FileLocked:  # a concurrent writer holds the same object's lock: it writes identical bytes
            time.sleep(0.01)
            if obj.id in store:
                return obj.id
    raise OSError(f"cannot write object {obj.id.decode()}: lock held")


def put_bytes(repo: Repo, data: bytes) -> bytes:
    return put_object(repo, Blob.from_string(data))


def put_blob_stream(repo: Repo, chunks: Iterable[bytes]) -> tuple[bytes, int]:
    """Store a blob from chunks in bounded memory: spool to a temp file, then hash and deflate it
    into a loose object. Returns (blob id, size)."""
    objdir = repo.object_store.path  # the common dir's objects, also from a linked worktree
    with tempfile.TemporaryFile(dir=objdir, prefix="pfgit-spool-") as spool:
        size = 0
        for c in chunks:
            spool.write(c)
            size += len(c)
        return _put_from_file(repo, spool, size), size


def has_object(repo: Repo, sha: bytes) -> bool:
    """Is the object stored? By name only: dulwich's `in` inflates a loose object whole."""
    store = repo.object_store
    if os.path.exists(os.path.join(store.path, sha[:2].decode(), sha[2:].decode())):
        return True
    for pack in store.packs:
        try:
            pack.index.object_offset(sha)
            return True
        except KeyError:
            continue
    return sha in store  # alternates and anything else dulwich knows


def put_file(repo: Repo, path: str) -> bytes:
    """Store a file's content as a blob in bounded memory (a 300 MB untracked data file in a
    captured flow folder is hashed and deflated in blocks, never held whole)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 1 << 20:
            return put_bytes(repo, f.read())
        return _put_from_file(repo, f, size)


def _put_from_file(repo: Repo, src, size: int) -> bytes:
    """Hash `size` bytes of the open file `src` as a blob, then write them as a loose object."""
    header = b"blob %d\x00" % size

    def blocks():
        src.seek(0)
        n = 0
        for block in iter(lambda: src.read(1 << 18), b""):
            n += len(block)
            yield block
        if n != size:
            raise OSError(f"file changed while being stored ({n} bytes, expected {size})")

    h = hashlib.sha1(header)
    for block in blocks():
        h.update(block)
    sha = h.hexdigest().encode()
    if has_object(repo, sha):
        return sha
    objdir = repo.object_store.path
    final = os.path.join(objdir, sha[:2].decode(), sha[2:].decode())
    os.makedirs(os.path.dirname(final), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix="tmp_obj_")
    try:
        again = hashlib.sha1(header)
        with os.fdopen(fd, "wb") as out:
            z = zlib.compressobj(1)
            out.write(z.compress(header))
            for block in blocks():
                again.update(block)
                out.write(z.compress(block))
            out.write(z.flush())
            out.flush()
            os.fsync(out.fileno())
        if again.hexdigest().encode() != sha:  # changed between the two reads: not this object
            raise OSError("file changed while being stored")
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)  # identical content if a concurrent writer got there first
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return sha


def iter_blob(repo: Repo, sha: bytes, chunk: int = 1 << 16) -> Iterator[bytes]:
    """A blob's content in chunks; loose objects are inflated incrementally (bounded memory)."""
    path = os.path.join(repo.object_store.path, sha[:2].decode(), sha[2:].decode())
    try:
        f = open(path, "rb")
    except FileNotFoundError:  # packed (after gc or fetch)
        yield from _iter_packed(repo, sha, chunk)
        return

    def inflate(z, f):
        for block in iter(lambda: f.read(chunk), b""):
            data = z.decompress(block, chunk)  # bounded: repetitive data inflates 1000-fold
            while True:
                yield data
                if not z.unconsumed_tail:
                    break
                data = z.decompress(z.unconsumed_tail, chunk)
        yield z.flush()

    with f:
        header_done = False
        buf = b""
        for data in inflate(zlib.decompressobj(), f):
            if not header_done:
                buf += data
                nul = buf.find(b"\x00")
                if nul < 0:
                    continue
                data, header_done = buf[nul + 1:], True
            if data:
                yield data


PACK_BLOB = 3


def _iter_packed(repo: Repo, sha: bytes, chunk: int) -> Iterator[bytes]:
    """A packed blob in chunks. Stored whole in the pack (git keeps a big unique blob so), it is
    inflated incrementally from the pack file; stored as a delta, dulwich resolves it in memory."""
    for pack in repo.object_store.packs:
        try:
            offset = pack.index.object_offset(sha)
        except KeyError:
            continue
        with open(pack._data_path, "rb") as f:
            f.seek(offset)
            byte = f.read(1)[0]
            kind = (byte >> 4) & 7
            while byte & 0x80:  # the size continues (varint); the inflated stream tells the end
                byte = f.read(1)[0]
            if kind != PACK_BLOB:
                break
            z = zlib.decompressobj()
            while not z.eof:
                block = f.read(chunk)
                if not block:
                    break
                data = z.decompress(block, chunk)
                while True:
                    if data:
                        yield data
                    if not z.unconsumed_tail or z.eof:
                        break
                    data = z.decompress(z.unconsumed_tail, chunk)
            return
    yield repo[sha].as_raw_string()


def object_size(repo: Repo, sha: bytes) -> int | None:
    """An object's inflated size from its header alone (a loose object's first bytes, a packed
    object's entry header or its delta's result size), without inflating or resolving it; None
    when it cannot be found that way. A fetched object can be a zip bomb: git stores 90 MB of
    repetitive JSON in 88 KB."""
    path = os.path.join(repo.object_store.path, sha[:2].decode(), sha[2:].decode())
    try:
        with open(path, "rb") as f:
            head = zlib.decompressobj().decompress(f.read(256), 64)
    except FileNotFoundError:
        return _packed_size(repo, sha)
    except (OSError, zlib.error):
        return None
    kind_size = head.split(b"\x00", 1)[0].split(b" ")
    return int(kind_size[1]) if len(kind_size) == 2 and kind_size[1].isdigit() else None


def _varint(data: bytes, i: int) -> tuple:
    """(value, next index) of a delta header's little-endian base-128 size."""
    value = shift = 0
    while i < len(data):
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i
    return None, i


def _packed_size(repo: Repo, sha: bytes) -> int | None:
    for pack in repo.object_store.packs:
        try:
            offset = pack.index.object_offset(sha)
        except KeyError:
            continue
        try:
            with open(pack._data_path, "rb") as f:
                f.seek(offset)
                head = f.read(64)
                byte, i = head[0], 1
                kind, size, shift = (byte >> 4) & 7, byte & 0x0F, 4
                while byte & 0x80:
                    byte = head[i]
                    i += 1
                    size |= (byte & 0x7F) << shift
                    shift += 7
                if kind in (1, 2, 3, 4):   # commit, tree, blob, tag: stored whole
                    return size
                if kind == 6:   # ofs-delta: a variable-length offset, then the deflated delta
                    while head[i] & 0x80:
                        i += 1
                    i += 1
                elif kind == 7:   # ref-delta: the base's 20-byte id, then the deflated delta
                    i += 20
                else:
                    return None
                f.seek(offset + i)
                delta = zlib.decompressobj().decompress(f.read(256), 32)
        except (OSError, IndexError, zlib.error):
            return None
        _, j = _varint(delta, 0)          # the base's size, then the result's
        return _varint(delta, j)[0]
    return None


def iter_lines(repo: Repo, sha: bytes, max_line: int | None = None) -> Iterator[bytes | None]:
    """A blob's lines (with their newline), streamed. With `max_line`, a line longer than that is
    not kept in memory: None stands for it (a fetched log may be one line of gigabytes)."""
    pending: list = []   # the pieces of a line not ended yet: joined once, when it ends (a
    # 60 MB line re-split on every 64 KB chunk took two minutes)
    held, too_long = 0, False
    for chunk in iter_blob(repo, sha):
        if b"\n" not in chunk:
            if max_line is not None and not too_long:
                held += len(chunk)
                if held > max_line:
                    pending, too_long = [], True
            if not too_long:
                pending.append(chunk)
            continue
        *lines, last = chunk.split(b"\n")
        first = None if too_long else b"".join(pending) + lines[0]
        if max_line is not None and first is not None and len(first) > max_line:
            first = None
        pending = [last] if last else []
        held, too_long = len(last), False
        for i, ln in enumerate(lines):
            if i == 0:
                yield None if first is None else first + b"\n"
            elif max_line is not None and len(ln) > max_line:
                yield None
            else:
                yield ln + b"\n"
    if pending and not too_long:
        tail = b"".join(pending)
        yield None if max_line is not None and len(tail) > max_line else tail
    elif too_long:
        yield None


_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def unsafe_entry_name(name: str) -> str | None:
    """Why git's fsck (receive.fsckObjects) would refuse a tree entry `name`, or None.

    `.git` in any case, also as NTFS and HFS+ spell it (`.git.`, `git~1`, `.g\u200cit`), `.`,
    `..`, empty names and names holding '/' or NUL."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return "not a file name"
    folded = _HFS_IGNORABLE.sub("", name).lower().rstrip(". ")
    if folded in (".git", "git~1"):
        return "git's own folder name"
    return None


def make_tree(repo: Repo, entries: dict) -> bytes:
    """Write a tree from {name: (mode, sha)} (sha of a blob or tree already stored). Refuses a
    name git would reject (a `.git` entry would make every clone with fsck refuse our push)."""
    t = Tree()
    for name, (mode, sha) in entries.items():
        text = name if isinstance(name, str) else name.decode("utf-8", "surrogateescape")
        why = unsafe_entry_name(text)
        if why:
            raise ValueError(f"refusing to write a tree entry named {text!r}: {why}")
        t.add(name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name, mode, sha)
    return put_object(repo, t)


def tree_entries(repo: Repo, tree_id: bytes) -> dict:
    return {e.path.decode("utf-8", "surrogateescape"): (e.mode, e.sha)
            for e in repo[tree_id].iteritems()}


def tree_at(repo: Repo, tree_id: bytes, path: str, memo: dict | None = None) -> bytes | None:
    """Id of the subtree at POSIX `path` below `tree_id` (None if absent or not a folder).
    `memo` caches (tree, name) lookups across calls: history walks share most subtrees."""
    cur = tree_id
    if path in ("", "."):
        return cur
    for seg in path.split("/"):
        key = (cur, seg)
        if memo is not None and key in memo:
            cur = memo[key]
        else:
            try:
                mode, sha = repo[cur][seg.encode()]
                nxt = sha if stat.S_ISDIR(mode) else None
            except KeyError:
                nxt = None
            if memo is not None:
                memo[key] = nxt
            cur = nxt
        if cur is None:
            return None
    return cur


def replace_subtree(repo: Repo, root: bytes | None, path: str, sub: bytes | None) -> bytes:
    """A new root tree equal to `root` with the folder at `path` replaced by `sub` (None removes)."""
    segs = path.split("/")
    entries = tree_entries(repo, root) if root else {}
    head = segs[0]
    if len(segs) == 1:
        if sub is None:
            entries.pop(head, None)
        else:
            entries[head] = (DIR_MODE, sub)
    else:
        child = entries.get(head)
        child_tree = child[1] if child and stat.S_ISDIR(child[0]) else None
        entries[head] = (DIR_MODE, replace_subtree(repo, child_tree, "/".join(segs[1:]), sub))
    return make_tree(repo, entries)


def identity(repo: Repo, kind: str = "COMMITTER") -> bytes:
    try:
        return get_user_identity(repo.get_config_stack(), kind=kind)
    except Exception:
        return b"pfgit <pfgit@localhost>"


def make_commit(repo: Repo, tree: bytes, parents: list, message: str,
                when: float | None = None) -> bytes:
    c = Commit()
    c.tree = tree
    c.parents = list(parents)
    c.author = identity(repo, "AUTHOR")
    c.committer = identity(repo, "COMMITTER")
    ts = int(when if when is not None else time.time())
    tz = -time.timezone if not time.localtime(ts).tm_isdst else -time.altzone
    c.author_time = c.commit_time = ts
    c.author_timezone = c.commit_timezone = tz
    c.encoding = b"UTF-8"
    c.message = message.encode("utf-8")
    return put_object(repo, c)

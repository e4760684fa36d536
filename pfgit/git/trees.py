"""Trees with two entries of one name are refused, wherever pfgit reads a tree.

git never writes such a tree, but one can be made by hand (`git hash-object -t tree --literally`)
and pushed where fsck is off. git itself then reads it two ways: `git show REV:f` and `ls-tree`
lookups take the first entry, a checkout ends with the last; dulwich keeps the last. A pull
request could so show pfgit (validate, diff, runs) one file while reviewers or CI check out
another. `git fsck` calls it an error (duplicateEntries); pfgit refuses the tree in one line
naming it (exit 2, as for unreadable input), never reading either entry.

Every tree pfgit reads comes through dulwich's `Tree` (objects, packs, the index's trees) or,
for history walks, `git cat-file --batch` parsed by pfgit.git.batch.parse_tree: `install()`
makes the first check its entries when parsed, and batch calls `check_count`.
"""

from __future__ import annotations

import hashlib
import re

from ..errors import ReadError

_ENTRY = {20: re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.S), 32: re.compile(rb"[0-7]+ [^\0]*\0.{32}", re.S)}


class DuplicateEntryError(ReadError):
    """A tree holding two entries of one name (see the module's doc)."""


def entry_names(raw: bytes, oid_len: int = 20) -> list:
    """The names of a raw tree object's entries, in order, duplicates kept."""
    pat = _ENTRY.get(oid_len) or re.compile(rb"[0-7]+ [^\0]*\0.{%d}" % oid_len, re.S)
    return [e[e.index(b" ") + 1:e.index(b"\0")] for e in pat.findall(raw)]


def refuse(raw: bytes, oid_len: int = 20) -> DuplicateEntryError:
    """The error for the raw tree `raw` (its id computed here: dulwich has none yet)."""
    names = entry_names(raw, oid_len)
    seen: set = set()
    dup = next((n for n in names if n in seen or seen.add(n)), b"?")
    algo = hashlib.sha256 if oid_len == 32 else hashlib.sha1
    tree_id = algo(b"tree %d\0" % len(raw) + raw).hexdigest()
    name = dup.decode("utf-8", "backslashreplace")
    return DuplicateEntryError(
        f"two entries named {name!r} (git fsck: duplicateEntries); git itself reads such a tree "
        "two ways (a lookup takes the first, a checkout the last), so pfgit does not read it",
        file=f"tree {tree_id}")


def check_count(raw: bytes, parsed: int, oid_len: int = 20) -> None:
    """Raise DuplicateEntryError when the raw tree has more entries than the `parsed` names."""
    pat = _ENTRY.get(oid_len) or re.compile(rb"[0-7]+ [^\0]*\0.{%d}" % oid_len, re.S)
    if len(pat.findall(raw)) != parsed:
        raise refuse(raw, oid_len)


_INSTALLED = False


def install() -> None:
    """Make dulwich's Tree refuse a duplicate name when it parses one (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from dulwich.objects import Tree

    parse = Tree._deserialize

    def _deserialize(self, chunks):
        parse(self, chunks)
        oid_len = getattr(getattr(self, "object_format", None), "oid_length", 20)
        check_count(b"".join(chunks), len(self._entries), oid_len)

    Tree._deserialize = _deserialize
    _INSTALLED = True


__all__ = ["DuplicateEntryError", "check_count", "entry_names", "install", "refuse"]

"""Reading an untrusted zip (a studio download, a PR attachment) into memory, safely.

Nothing is extracted to disk: every entry is checked and read into memory first, so a refused zip
leaves no trace. Refused (each with one line, exit 2): names that climb out (`..`, absolute paths,
drive letters, backslashes, NUL), symlinks, encrypted entries, duplicate names (also names that
differ only in case, or a file where a folder is), names that are not UTF-8, unsupported
compression, too many entries, and output beyond the size or ratio limits. Sizes are counted while
inflating: a header may lie about them.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field

from ...errors import UsageError

CHUNK = 1 << 16
UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1


@dataclass
class Limits:
    max_entries: int = 10_000
    max_total: int = 256 << 20      # bytes, all entries inflated
    max_entry: int = 128 << 20      # bytes, one entry inflated
    max_ratio: int = 200            # inflated / compressed, once an entry is past ratio_floor
    ratio_floor: int = 1 << 20      # small files may compress well (a file of spaces)


DEFAULT_LIMITS = Limits()


@dataclass
class ZipEntry:
    name: str          # normalised POSIX path inside the zip
    data: bytes
    executable: bool


@dataclass
class ZipContent:
    entries: list = field(default_factory=list)     # ZipEntry, in zip order


class ZipRefused(UsageError):
    """An unsafe or unreadable zip (exit 2)."""


def name_problem(name: str) -> str | None:
    """Why `name` (a path inside a zip or a git tree) cannot be written below a folder."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL in name"
    if "\\" in name:
        return "backslash in name (a Windows path)"
    if name.startswith("/"):
        return "absolute path"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "drive letter"
    segs = [s for s in name.split("/") if s not in ("", ".")]
    if not segs:
        return "empty name"
    if ".." in segs:
        return "'..' climbs out of the folder"
    if any(s.lower() == ".git" for s in segs):
        return "'.git' folder"
    if any(ord(c) < 32 for c in name):
        return "control character in name"
    return None


def normalise(name: str) -> str:
    return "/".join(s for s in name.split("/") if s not in ("", "."))


def _raw_name(info: zipfile.ZipInfo, path: str) -> str:
    """The entry name as UTF-8; zipfile read names without the UTF-8 flag as cp437, but many zip
    writers store UTF-8 without setting it: accept those, refuse anything else that is not ASCII."""
    name = info.filename
    if info.flag_bits & UTF8_FLAG or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        shown = name.encode("cp437", "replace").decode("utf-8", "backslashreplace")
        raise ZipRefused(f"entry '{shown}': file name is not UTF-8", file=path) from None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _is_dir(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.filename.endswith("/") or (info.create_system == 3 and stat.S_ISDIR(mode))


def _precheck(path: str, limits: Limits) -> None:
    """Refuse before zipfile reads the whole central directory into memory: a file bigger than the
    inflate budget, or an end record announcing too many entries."""
    if os.path.getsize(path) > limits.max_total:
        raise ZipRefused(f"the zip is bigger than {limits.max_total} bytes", file=path)
    read_end = getattr(zipfile, "_EndRecData", None)   # private; the count check after opening
    if read_end is None:                                # stays if a Python drops it
        return
    with open(path, "rb") as f:
        end = read_end(f)   # the end record, as zipfile itself reads it
    if end is None:
        raise ZipRefused("not a zip file (or a truncated one)", file=path)
    if end[4] > limits.max_entries:   # _ECD_ENTRIES_TOTAL
        raise ZipRefused(f"zip bomb? {end[4]} entries (the limit is "
                         f"{limits.max_entries})", file=path)


def _open(path: str, limits: Limits) -> zipfile.ZipFile:
    try:
        if not os.path.isfile(path):
            raise ZipRefused("no such file" if not os.path.exists(path) else "not a file", file=path)
        _precheck(path, limits)
        return zipfile.ZipFile(path)
    except UnicodeDecodeError:
        raise ZipRefused("a file name is marked UTF-8 but is not", file=path) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise ZipRefused(f"corrupt zip: {e}", file=path) from None
    except OSError as e:
        raise ZipRefused(f"cannot read: {e.strerror or e}", file=path) from None


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits,
                total: list, path: str) -> bytes:
    chunks, size = [], 0
    compressed = max(info.compress_size, 1)
    try:
        with zf.open(info) as f:
            while True:
                block = f.read(CHUNK)
                if not block:
                    break
                size += len(block)
                total[0] += len(block)
                if size > limits.max_entry:
                    raise ZipRefused(f"zip bomb? entry '{name}' inflates past {limits.max_entry} bytes",
                                     file=path)
                if total[0] > limits.max_total:
                    raise ZipRefused(f"zip bomb? the entries inflate past {limits.max_total} bytes "
                                     "in total", file=path)
                if size > limits.ratio_floor and size > limits.max_ratio * compressed:
                    raise ZipRefused(f"zip bomb? entry '{name}' inflates more than "
                                     f"{limits.max_ratio} times its compressed size", file=path)
                chunks.append(block)
    except ZipRefused:
        raise
    except NotImplementedError as e:
        raise ZipRefused(f"entry '{name}': unsupported compression ({e})", file=path) from None
    except RuntimeError as e:  # zipfile: "File ... is encrypted, password required"
        raise ZipRefused(f"entry '{name}': {e}", file=path) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
        raise ZipRefused(f"corrupt zip: entry '{name}': {e}", file=path) from None
    return b"".join(chunks)


def read_zip(path: str, limits: Limits | None = None) -> ZipContent:
    """Every file entry of the zip at `path`, checked; raises ZipRefused for anything unsafe."""
    limits = limits or DEFAULT_LIMITS
    zf = _open(path, limits)
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise ZipRefused(f"zip bomb? {len(infos)} entries (the limit is {limits.max_entries})",
                             file=path)
        seen: dict = {}        # case-folded name -> name
        files, dirs = set(), set()
        plan = []
        for info in infos:
            raw = _raw_name(info, path)
            why = name_problem(raw)
            if why:
                raise ZipRefused(f"unsafe entry '{raw}': {why}", file=path)
            if info.flag_bits & ENCRYPTED_FLAG:
                raise ZipRefused(f"entry '{raw}' is encrypted", file=path)
            if _is_symlink(info):
                raise ZipRefused(f"entry '{raw}' is a symbolic link", file=path)
            name = normalise(raw)
            key = name.lower()
            if key in seen:
                same = seen[key] == name
                raise ZipRefused(f"duplicate entry '{name}'" + ("" if same else
                                 f" (differs from '{seen[key]}' only in case)"), file=path)
            seen[key] = name
            parents = name.split("/")[:-1]
            for i in range(1, len(parents) + 1):
                dirs.add("/".join(parents[:i]).lower())
            if _is_dir(info):
                dirs.add(key)
                continue
            files.add(key)
            plan.append((info, name))
        clash = sorted(files & dirs)
        if clash:
            raise ZipRefused(f"entry '{clash[0]}' is both a file and a folder", file=path)
        total = [0]
        out = ZipContent()
        for info, name in plan:
            data = _read_entry(zf, info, name, limits, total, path)
            mode = info.external_attr >> 16
            out.entries.append(ZipEntry(name, data, bool(info.create_system == 3 and mode & 0o111)))
        return out


__all__ = ["Limits", "ZipContent", "ZipEntry", "ZipRefused", "name_problem", "normalise", "read_zip"]

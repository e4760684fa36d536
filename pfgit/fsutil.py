"""Writing user files safely: a temp file in the same folder, then one rename (never half a file)."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path: str, data: bytes, prefix: str = ".pfgit-") -> None:
    """Replace (or create) `path` with `data`; an existing file's mode is kept."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:  # a new file: the umask's mode, as open() would give
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

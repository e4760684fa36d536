"""Writing user files safely: a temp file in the same folder, then one rename (never half a file)."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path: str, data: bytes, prefix: str = ".pfgit-", mode: int | None = None) -> None:
    """Replace (or create) `path` with `data`; an existing file's mode is kept unless `mode` is
    given (0o600 for files holding secrets: the temp file never has a wider mode)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            if mode is not None:
                os.chmod(tmp, mode)
                os.replace(tmp, path)
                return
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


def write_output(path: str, data: bytes, prefix: str = ".pfgit-") -> None:
    """`write_atomic` for a file the user named on the command line (`-o FILE`): a folder, or a
    folder that does not exist, is a one-line usage error naming it, not an internal error."""
    from .errors import UsageError

    if os.path.isdir(path):
        raise UsageError("is a folder", file=path)
    try:
        write_atomic(path, data, prefix=prefix)
    except OSError as e:
        where = os.path.dirname(os.path.abspath(path))
        why = "no such folder" if not os.path.isdir(where) else (e.strerror or str(e))
        raise UsageError(f"cannot write: {why}", file=path) from None

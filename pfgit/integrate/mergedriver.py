"""git's merge driver entry point, thin like nbdime's gitmergedriver: parse git's arguments, merge.

git runs `merge.pfgit.driver` once per flow file both branches changed, as
`python -m pfgit.integrate.mergedriver %O %A %B %P` (written by `pfgit install`; the same as
`pfgit merge-driver`, without the CLI framework's start-up). The result goes to %A; exit 0 clean,
1 conflicts (markers written), 2 when a file cannot be read (%A untouched).
"""

from __future__ import annotations

import sys


def main(argv: list | None = None) -> int:
    from ..output import safe_streams

    with safe_streams():  # node names in conflict messages come from both branches
        return _main(sys.argv[1:] if argv is None else argv)


def _main(args: list) -> int:
    if len(args) not in (3, 4):
        print("usage: python -m pfgit.integrate.mergedriver %O %A %B [%P]", file=sys.stderr)
        return 2
    from ..merge.files import merge_paths, summary_lines
    from ..git.textmerge import conflict_style
    from .diffdriver import is_flow_path

    base, ours, theirs = args[:3]
    path = args[3] if len(args) == 4 else ours
    diff3 = conflict_style() in ("diff3", "zdiff3")
    if len(args) == 4 and not is_flow_path(path):
        # a pull request's `.gitattributes` may route any file here (`* merge=pfgit`): only flow
        # files get the semantic merge, the rest git's own line merge
        return _line_merge(base, ours, theirs, path, diff3)
    try:
        res = merge_paths(ours, base, theirs, diff3=diff3)
    except OSError as e:
        print(f"pfgit: {path}: cannot read: {e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # never exit leaving ours unmarked: git would keep it, losing theirs
        return _last_resort(base, ours, theirs, path, e)
    for line in summary_lines(res, path):
        print(line, file=sys.stderr)
    return res.exit_code


def _line_merge(base: str, ours: str, theirs: str, path: str, diff3: bool) -> int:
    from ..git.textmerge import git_merge_file
    from ..merge.files import LABELS, read, write_atomic

    try:
        b, o, t = read(base), read(ours), read(theirs)
    except OSError as e:
        print(f"pfgit: {path}: cannot read: {e.strerror or e}", file=sys.stderr)
        return 2
    try:
        data, conflicts = git_merge_file(b, o, t, LABELS, diff3)
    except OSError as e:   # binary files, git killed: both sides whole, as for a flow
        return _last_resort(base, ours, theirs, path, e)
    write_atomic(ours, data)
    return 1 if conflicts else 0


def _last_resort(base: str, ours: str, theirs: str, path: str, err: Exception) -> int:
    """Both sides between markers in %A, whatever failed; exit 1 (a conflict)."""
    from ..merge.files import read, whole_file_conflict, write_atomic

    print(f"pfgit: {path}: merge failed (internal error {type(err).__name__}: {err}); "
          "both sides kept between conflict markers", file=sys.stderr)
    try:
        write_atomic(ours, whole_file_conflict(read(base), read(ours), read(theirs)))
    except OSError as e:
        print(f"pfgit: {path}: cannot write: {e.strerror or e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

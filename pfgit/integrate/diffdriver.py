"""pfgit as git's diff driver: its git config, its entry point, and finding the trees of a call.

The entry point is thin, like nbdime's gitdiffdriver: parse git's arguments, call the library,
never fail (a non-zero exit makes git stop the whole diff, so any problem falls back to a text
diff). It runs as `python -m pfgit.integrate.diffdriver diff|textconv ...`, importing only what a diff
needs: git starts one process per changed flow file (two for textconv). `pfgit diff-driver` /
`pfgit diff-textconv` do the same through the full CLI.

`driver_config(python)` is the git config `pfgit install` writes (and removes on --uninstall):
- `diff.pfgit.command`: the semantic diff (`diff` below, = `pfgit diff-driver`), used by `git diff` and by
  `git log -p --ext-diff` / `git show --ext-diff` (git runs external diff drivers for `log`/`show`
  only with `--ext-diff`);
- `diff.pfgit.textconv`: a normalised one-line-per-value form of the flow (`... textconv`),
  which plain `git log -p` / `git show` / `git diff --no-ext-diff` diff instead of the raw YAML, so
  formatting-only edits vanish there too.

Git passes a driver only the path and the two blobs. To show source-file changes under the nodes
that use them, `blob_context` looks for the trees those blobs come from: the worktree, the index,
HEAD, then commits reachable from HEAD whose tree has the new blob at that path and a parent
with the old one.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Iterator

NULL_HEX = "0" * 40
HISTORY_LIMIT = 2000  # commits searched for a blob pair; beyond that, YAML-level changes only


def driver_config(python_exe: str) -> dict:
    """git config entries (key -> value) that make `diff=pfgit` call this interpreter's pfgit."""
    py = shlex.quote(python_exe)
    return {
        "diff.pfgit.command": f"{py} -m pfgit.integrate.diffdriver diff",
        "diff.pfgit.textconv": f"{py} -m pfgit.integrate.diffdriver textconv",
    }


GITATTRIBUTES_LINES = ("flow.dag.yaml diff=pfgit", "flow.dag.yml diff=pfgit")


def _path_blob(repo, tree_id: bytes, path: str) -> bytes | None:
    from dulwich.object_store import tree_lookup_path

    try:
        _mode, sha = tree_lookup_path(repo.object_store.__getitem__, tree_id, path.encode())
        return sha
    except (KeyError, Exception):
        return None


def _walk(repo, limit: int) -> Iterator:
    try:
        head = repo.head()
    except KeyError:
        return
    seen = {head}
    todo = [head]
    n = 0
    while todo and n < limit:
        sha = todo.pop(0)
        try:
            commit = repo[sha]
        except KeyError:
            continue
        n += 1
        yield commit
        for p in commit.parents:
            if p not in seen:
                seen.add(p)
                todo.append(p)


def blob_context(repo, old_path: str, new_path: str, old_hex: str, new_hex: str,
                 new_is_worktree: bool):
    """(old tree id | "index" | None, new tree id | "index" | "worktree" | None): where the
    two blobs of a driver call come from (None: not found, or that side does not exist)."""
    old_b = old_hex.encode() if old_hex and old_hex not in (NULL_HEX, ".") else None
    new_b = new_hex.encode() if new_hex and new_hex not in (NULL_HEX, ".") else None
    try:
        index = repo.open_index()
    except Exception:
        index = None
    try:
        head_tree = repo[repo.head()].tree
    except KeyError:
        head_tree = None

    def find(path: str, sha: bytes | None):
        if sha is None:
            return None
        try:
            if index is not None and path.encode() in index and \
                    getattr(index[path.encode()], "sha", None) == sha:
                return "index"
        except Exception:
            pass
        if head_tree is not None and _path_blob(repo, head_tree, path) == sha:
            return head_tree
        return None

    old_ctx = find(old_path, old_b)
    new_ctx = "worktree" if new_is_worktree else find(new_path, new_b)
    if (old_b is None or old_ctx is not None) and (new_b is None or new_ctx is not None):
        return old_ctx, new_ctx
    # a commit whose tree has the new blob and a parent with the old one: git log -p / git show
    for commit in _walk(repo, HISTORY_LIMIT):
        if _path_blob(repo, commit.tree, new_path) != new_b:
            continue
        for p in commit.parents:
            ptree = repo[p].tree
            if _path_blob(repo, ptree, old_path) == old_b:
                return (ptree if old_b is not None else None), (new_ctx or commit.tree)
        if old_b is None and not commit.parents:
            return None, (new_ctx or commit.tree)
    return old_ctx, new_ctx


def driver_readers(path: str, old_hex: str, new_hex: str, new_file: str, cwd: str = ".",
                   new_path: str | None = None):
    """(old Reader | None, new Reader | None) holding the flow folder at each blob's commit.

    git runs drivers at the worktree top; a new side read from the worktree is passed as the
    path itself with a null id.
    """
    import os

    from ..flow.readers import DirReader
    from ..git.repo import IndexReader, TreeReader

    try:
        from dulwich.repo import Repo

        repo = Repo.discover(cwd)
    except Exception:
        return None, None
    new_path = new_path or path
    new_is_worktree = new_hex in (NULL_HEX, ".") and new_file not in ("/dev/null", "") and \
        os.path.realpath(os.path.join(cwd, new_file)) == os.path.realpath(os.path.join(repo.path, new_path))
    old_ctx, new_ctx = blob_context(repo, path, new_path, old_hex, new_hex, new_is_worktree)

    def reader(ctx):
        if ctx is None:
            return None
        if ctx == "worktree":
            return DirReader(repo.path, "", boundary=repo.path)
        if ctx == "index":
            return IndexReader(repo)
        return TreeReader(repo, ctx)
    return reader(old_ctx), reader(new_ctx)


def is_flow_path(path: str, temp: bool = False) -> bool:
    """Is `path` a flow file by its name (what `.gitattributes` should route to the driver)?
    `temp`: a file git wrote for textconv, named `XXXXXX_<name>`."""
    from ..flow.model import FLOW_FILES

    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if temp:
        return name.endswith(tuple("_" + f for f in FLOW_FILES) + FLOW_FILES + (".prompty",))
    return name in FLOW_FILES or name.endswith(".prompty")


def textconv(file: str) -> None:
    from ..diff.outline import outline_bytes
    from ..validate.markers import marker_lines

    with open(file, "rb") as f:
        raw = f.read()
    if not is_flow_path(file, temp=True):   # not a flow: its text as it is (see driver_text)
        try:
            sys.stdout.write(raw.decode("utf-8"))   # escape sequences neutralised
        except UnicodeDecodeError:
            import hashlib

            sys.stdout.write(f"(binary file, {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()})\n")
        sys.stdout.flush()
        return
    # a side with conflict markers (a merge in progress) is shown as it is, and so are the
    # conflicted file's other versions: `git diff` then shows the conflict, not every line of
    # the outline replaced by the raw text with markers
    shown_raw = marker_lines(raw) or _unmerged_stage(raw)
    sys.stdout.buffer.write(raw if shown_raw else outline_bytes(raw, file))
    sys.stdout.flush()


_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")


def _git_dir(top: str = ".") -> str | None:
    """The git dir of the worktree git runs textconv in (its top), without spawning git."""
    dotgit = os.path.join(top, ".git")
    if os.path.isdir(dotgit):
        return dotgit
    try:
        with open(dotgit, "rb") as f:
            line = f.read(4096).strip()
    except OSError:
        return None
    if not line.startswith(b"gitdir:"):
        return None
    return os.path.join(top, os.fsdecode(line[7:].strip()))


def _unmerged_stage(raw: bytes) -> bool:
    """Is `raw` one side of a file left conflicted by a merge (or cherry-pick, revert, rebase)
    in progress? Checked only while one is: plain `git log -p` pays two stat calls."""
    import hashlib
    import subprocess

    gd = _git_dir()
    if gd is None or not any(os.path.exists(os.path.join(gd, n)) for n in _IN_PROGRESS):
        return False
    try:
        p = subprocess.run(["git", "ls-files", "-u", "-z"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    except OSError:
        return False
    oid = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest().encode()
    return any(rec.split(b" ")[1:2] == [oid] for rec in p.stdout.split(b"\0") if rec)


def driver_text(args: list) -> str:
    """The semantic diff git prints for one flow file; on any failure, a plain text diff."""
    if len(args) == 1:   # git's call for an unmerged path (`git diff -2` during a merge)
        return f"* Unmerged path {args[0]}\n"
    if len(args) < 7:
        return f"pfgit diff-driver: expected 7 arguments from git, got {len(args)}\n"
    path, old_file, old_hex, _om, new_file, new_hex, _nm = args[:7]
    new_path = args[7] if len(args) >= 9 else path  # git adds new path + rename info for renames

    def read(f: str) -> bytes | None:
        if f == "/dev/null":
            return None
        with open(f, "rb") as fh:
            return fh.read()

    a, b = read(old_file), read(new_file)
    header = f"diff --pfgit a/{path} b/{new_path}\n"
    if not (is_flow_path(path) or is_flow_path(new_path)):
        # a pull request's `.gitattributes` may route any file here (`* diff=pfgit`): a .py
        # change must never read "no semantic change"
        return header + _text_diff(path, a, b)
    from ..validate.markers import marker_lines

    marked = [side for side, raw in (("old", a), ("new", b)) if raw is not None and marker_lines(raw)]
    if marked:  # a merge in progress: the markers are the point, show them as text
        return header + f"(conflict markers in the {' and '.join(marked)} side: text diff)\n" + \
            _text_diff(path, a, b)
    try:
        return header + _driver_semantic(path, new_path, a, b, old_hex, new_hex, new_file)
    except Exception as e:  # never let git stop: show the text instead
        return header + f"(pfgit could not compare this flow: {type(e).__name__}: {e})\n" + \
            _text_diff(path, a, b)


def _text_diff(path: str, a: bytes | None, b: bytes | None) -> str:
    from ..diff.changes import file_change

    ch = file_change(["files", path], path, a, b)
    return (ch.detail.get("diff") or "Binary files differ\n") if ch else ""


def _driver_semantic(path, new_path, a, b, old_hex, new_hex, new_file) -> str:
    import posixpath

    from ..diff.render import render_text
    from ..diff.tree import FolderFiles, diff_flow_bytes

    old_r, new_r = driver_readers(path, old_hex, new_hex, new_file, new_path=new_path)
    d_old, d_new = posixpath.dirname(path) or ".", posixpath.dirname(new_path) or "."
    unknown = (a is not None and old_r is None) or (b is not None and new_r is None)
    if unknown:  # comparing sources from one side only would call them all added or deleted
        old_r = new_r = None

    def files(reader, d):
        if reader is None:
            return None
        ff = FolderFiles(reader, d)
        return lambda rel: ff.get(rel)  # only files nodes use: git shows the others itself

    fd = diff_flow_bytes(d_new, new_path, a, b, files(old_r, d_old), files(new_r, d_new),
                         f"a/{path}", f"b/{new_path}")
    text = render_text([fd], color=_git_wants_color(), header=False)
    if unknown:
        text += "  (source files not compared: the commit of this version was not found)\n"
    return text or "  no semantic change\n"


def _git_wants_color() -> bool:
    """Colour when git pages the output (its `auto` rule) unless color.diff / color.ui say no.

    git does not tell a driver about --color/--no-color; the config and NO_COLOR are honoured."""
    import os

    if os.environ.get("GIT_PAGER_IN_USE") != "true" or "NO_COLOR" in os.environ:
        return False
    try:
        from dulwich.repo import Repo

        cfg = Repo.discover(".").get_config_stack()
        for section, key in ((b"color", b"diff"), (b"color", b"ui")):
            try:
                v = cfg.get(section, key).decode().lower()
            except KeyError:
                continue
            return v not in ("false", "never", "no", "off", "0")
    except Exception:
        pass
    return True


def main(argv: list | None = None) -> int:
    from ..output import safe_streams

    try:
        with safe_streams():  # git shows this in a terminal: no escape sequence from a flow
            return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # git's pager quit (q in less, `| head`): stop quietly, like git
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


def _main(argv: list) -> int:
    if argv[:1] == ["textconv"] and len(argv) == 2:
        try:
            textconv(argv[1])
        except OSError as e:
            print(f"pfgit: {argv[1]}: {e.strerror or e}", file=sys.stderr)
            return 2
        return 0
    if argv[:1] == ["diff"]:
        sys.stdout.write(driver_text(argv[1:]))
        sys.stdout.flush()
        return 0
    print("usage: python -m pfgit.integrate.diffdriver diff PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX "
          "NEW-MODE | textconv FILE", file=sys.stderr)
    return 2


__all__ = ["driver_config", "blob_context", "driver_readers", "driver_text", "textconv",
           "GITATTRIBUTES_LINES", "NULL_HEX"]

if __name__ == "__main__":
    sys.exit(main())

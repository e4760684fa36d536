"""`pfgit validate` as a function: user PATHs (worktree or --staged index) -> reports -> output.

Both entry points call `run`: the typer command (pfgit/cli/cmd_validate.py) and
`python -m pfgit.validate` (`main` below), a light entry for git hooks that skips the CLI
framework's import (about 0.2 s of a 0.3 s run; docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sys

from ..errors import EXIT_NO, EXIT_OK, EXIT_USAGE, PfgitError, UsageError, no_such

USAGE = """Usage: pfgit validate [PATH]... [OPTIONS]

  Check Prompt flow folders: references, cycles, sources, variants, Jinja2 and
  Python syntax.

  PATH: flow folders, flow files, files inside flows, or folders to search
  (default: .).

  Exit 0: no errors; 1: errors (or warnings with --strict); 2: bad PATH or not
  a repository.

Options:
  -h, --help       Show this message and exit.
  --json           Print one JSON object (docs/cli.md).
  --format FORMAT  text (default), json, github (workflow-command annotations
                   on a pull request's changed lines) or sarif (SARIF 2.1.0).
  --strict         Warnings fail too.
  --staged         Check what is staged in the git index (for pre-commit
                   hooks): the flows holding staged changes, or those at
                   PATHs.
  -q, --quiet      Print nothing when there is no problem (for hooks)."""


NO_FLOW_HERE = "no flow here (no flow.dag.yaml, flow.flex.yaml or .prompty file in it or below it)"


def run(paths: list, json_out: bool = False, strict: bool = False, staged: bool = False,
        quiet: bool = False, fmt: str | None = None) -> int:
    """Validate, print, and return the exit code. Raises UsageError for a bad PATH or format."""
    from ..annotations import FORMATS
    from .render import summary

    fmt = fmt or ("json" if json_out else "text")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    skipped: list = []   # submodules (and nested clones) below the PATHs: another repository
    reports = staged_reports(paths, skipped) if staged else worktree_reports(paths or ["."], skipped)
    # machine formats always print: an empty SARIF log or annotation list is an answer too
    if fmt in ("json", "sarif") or not (quiet and not any(r.problems for r in reports)):
        _print(reports, fmt, strict, skipped)
        if skipped and fmt != "json":
            print(skipped_note(skipped), file=sys.stderr)
    return EXIT_OK if summary(reports, strict)["ok"] else EXIT_NO


def skipped_note(skipped: list) -> str:
    """The one line saying which submodules were left out (they are repositories of their own)."""
    n = len(skipped)
    return (f"pfgit: not checked: {n} submodule{'s' if n != 1 else ''} or nested repositor"
            f"{'ies' if n != 1 else 'y'} (another repository: run pfgit validate inside it): "
            + ", ".join(skipped))


def worktree_reports(paths: list, skipped: list | None = None) -> list:
    from ..flow.readers import OUTSIDE_ARGUMENT, DirReader, git_top, join, outside_repository
    from .api import locate, validate_locations

    class FsReader(DirReader):
        """The file system: reader paths are absolute paths without the leading '/', so
        additional_includes may reach sibling folders; nothing outside the git repository holding
        the PATH is read (its `boundary`; none outside any repository). Shown relative to the
        current folder when below it (as git and linters show paths), else absolute."""

        def display(self, rel: str) -> str:
            full = "/" + join(rel) if join(rel) != "." else "/"
            if self.cwd is None:
                return full
            shown = os.path.relpath(full, self.cwd)
            return full if shown.startswith("..") else shown

    try:
        cwd = os.getcwd()
    except OSError:  # the current folder was deleted: absolute PATHs still work, shown absolute
        cwd = None
    readers: dict = {}   # repository top -> (reader, its flow locations)
    for p in paths:
        if cwd is None and not os.path.isabs(p):
            raise UsageError("the current folder no longer exists", file=p)
        try:
            os.stat(p)
        except FileNotFoundError:
            raise UsageError("no such file or folder", file=p) from None
        except OSError as e:  # a symlink loop, no permission
            raise UsageError(f"cannot read: {e.strerror or e}", file=p) from None
        top = git_top(p)
        # `flows/g` committed as a symlink to ~/.ssh or another checkout: the folder is a pull
        # request's content and what it points to is not the repository's. (A file that is such
        # a link names its flow, as pre-commit passes it; the reader does not read the link.)
        if outside_repository(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)), p, argument=True):
            raise UsageError(OUTSIDE_ARGUMENT, file=p)
        if top not in readers:
            reader = FsReader("/", boundary=top)
            reader.cwd = cwd
            readers[top] = (reader, [])
        reader, locs = readers[top]
        before = len(reader.nested_repositories)
        found = locate(reader, os.path.abspath(p).lstrip("/") or ".")
        if not found and os.path.isdir(p) and len(reader.nested_repositories) == before:
            raise UsageError(NO_FLOW_HERE, file=p)  # a file outside any flow is skipped (pre-commit passes them)
        locs.extend(found)
    if skipped is not None:
        skipped += sorted(reader.display(d) for reader, _ in readers.values()
                          for d in reader.nested_repositories)
    reports = [r for reader, locs in readers.values() for r in validate_locations(reader, locs)]
    return reports if len(readers) == 1 else sorted(reports, key=lambda r: r.file)


def staged_reports(paths: list, skipped: list | None = None) -> list:
    from ..flow.readers import join
    from ..git.repo import IndexReader, TreeReader, open_repo, resolve
    from .api import locate, validate_locations
    from .staged import LinkFollowingReader, index_symlinks, touched_flows

    repo = open_repo(".")
    top = os.path.realpath(repo.path)
    staged = IndexReader(repo)
    staged.display = lambda rel: os.path.relpath(os.path.join(top, rel))  # as git shows paths
    # a source missing from the index but present on disk: the user forgot to `git add` it
    staged.unstaged = lambda rel: rel not in staged.files and os.path.exists(os.path.join(top, rel))
    links = index_symlinks(staged)
    index = LinkFollowingReader(staged, links) if links else staged
    if paths:
        locs = []
        for p in paths:
            full = os.path.abspath(p)  # resolve the folders, not a staged symlink itself
            full = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
            rel = os.path.relpath(full, top)
            if rel.startswith(".."):
                raise UsageError("outside the repository", file=p)
            rel = join(rel.replace(os.sep, "/"))
            # the index holds a submodule as one gitlink: its flows are another repository's
            links = [g for g in sorted(staged.gitlinks) if rel in (".", g) or g.startswith(rel + "/")
                     or rel.startswith(g + "/")]
            if skipped is not None:
                skipped += [staged.display(g) for g in links if staged.display(g) not in skipped]
            if any(rel == g or rel.startswith(g + "/") for g in links):
                continue
            found = locate(index, rel)
            if not found and os.path.isdir(p) and not links:
                raise UsageError(NO_FLOW_HERE, file=p)
            locs.extend(found)
        return validate_locations(index, locs)
    try:
        head = TreeReader(repo, repo[resolve(repo, "HEAD")].tree)
    except UsageError:  # no commit yet: everything staged is new
        head = None
    return validate_locations(index, touched_flows(index, head))


def _print(reports: list, fmt: str, strict: bool, skipped: list = ()) -> None:
    from ..output import emit_json, use_color
    from .render import text_lines, to_json

    if fmt == "json":
        out = to_json(reports, strict)
        if skipped:
            out["skipped"] = [{"path": p, "reason": "nested-repository"} for p in skipped]
        emit_json(out)
        return
    if fmt in ("github", "sarif"):
        from .. import __version__
        from ..annotations import github_lines, repo_root, sarif_log
        from .problems import CODES

        problems = [p for r in reports for p in r.problems]
        if fmt == "sarif":
            emit_json(sarif_log(problems, CODES, __version__, repo_root()))
        else:
            from ..output import ci_commands

            lines = github_lines(problems, repo_root())
            with ci_commands():   # our own `::error file=...::` lines (their data escaped)
                sys.stdout.write("".join(line + "\n" for line in lines))
        return
    sys.stdout.write("\n".join(text_lines(reports, strict, color=use_color())) + "\n")


def main(argv: list) -> int:
    """`python -m pfgit.validate ...`: same arguments, output and exit codes as `pfgit validate`."""
    flags = {"--json": False, "--strict": False, "--staged": False, "--quiet": False}
    paths: list = []
    fmt = None
    rest = False
    args = iter(argv)
    for a in args:
        if rest or a == "-" or not a.startswith("-"):
            paths.append(a)
        elif a == "--":
            rest = True
        elif a == "--format" or a.startswith("--format="):
            fmt = a.partition("=")[2] if "=" in a else next(args, None)
            if not fmt:
                print("pfgit: option --format requires a value", file=sys.stderr)
                return EXIT_USAGE
        elif a in ("-h", "--help"):
            print(USAGE)
            return EXIT_OK
        elif a in flags or a == "-q":
            flags["--quiet" if a == "-q" else a] = True
        else:
            print(no_such("option", a, [*flags, "-q", "--format", "-h", "--help"]).one_line(),
                  file=sys.stderr)
            return EXIT_USAGE
    try:
        return run(paths, flags["--json"], flags["--strict"], flags["--staged"], flags["--quiet"],
                   fmt)
    except PfgitError as e:
        return e.report(os.environ.get("PFGIT_DEBUG") == "1")
    except KeyboardInterrupt:
        print("pfgit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK

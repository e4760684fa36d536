"""promptflow's command lines with `pf` replaced by `pfgit`: `pfgit run create|list|show|
show-details|show-metrics|visualize|stream ...` and `pfgit flow test|validate ...` are rewritten
to the pfgit command that does the same, before typer parses (docs/run.md "From pf to pfgit").

pf's options of each subcommand are parsed with argparse, as pf parses them (abbreviations such as
`--name` for visualize's `--names`, `-n`, `-r`); options pf does not have are passed on to the
pfgit command (`pfgit run show -n x --json`). Only the word right after `run` / `flow` is looked
at: `pfgit run` and `pfgit test` take their flow with `--flow`, never as a bare word, so a flow
folder named `create` or `show` is `pfgit run --flow show ...` and is never mistaken for an alias.
"""

from __future__ import annotations

import os
import sys

from ..errors import UsageError

RUN_SUBCOMMANDS = ("create", "list", "show", "show-details", "show-metrics", "visualize", "stream")
FLOW_SUBCOMMANDS = ("test", "validate")
# pf's subcommands pfgit has nothing for: what to do instead
NO_EQUIVALENT = {
    ("run", "update"): "a run snapshot is a commit and is not edited after it is recorded "
                       "(pfgit runs rename renames one)",
    ("run", "archive"): "pfgit runs are never archived (pfgit runs gc deletes the runs of removed flows)",
    ("run", "restore"): "pfgit runs are never archived",
    ("run", "delete"): "pfgit runs gc deletes the runs of flows that no longer exist",
    ("run", "cancel"): "interrupt pfgit run (Ctrl-C) and finish it later with pfgit run --resume NAME",
    ("run", "export"): "pfgit checkout-run NAME DIR writes a run's flow; pfgit runs stream NAME its outputs",
}
LIST_DEFAULT = 50      # pf run list's --max-results (MAX_LIST_CLI_RESULTS)
DETAILS_DEFAULT = 100  # pf run show-details's (MAX_SHOW_DETAILS_RESULTS), runs show's --max-lines
HELP = """\
promptflow's command lines work with `pf` replaced by `pfgit` (docs/run.md "From pf to pfgit"):
  pfgit run create ...             = pfgit run ...
  pfgit run list [-r N]            = pfgit runs list -r N --format pf
  pfgit run show -n NAME           = pfgit runs show NAME
  pfgit run show-details -n NAME   = pfgit runs show NAME --details
  pfgit run show-metrics -n NAME   = pfgit runs show NAME --metrics
  pfgit run visualize -n A[,B]     = pfgit report --compare A --compare B FLOW...
  pfgit run stream -n NAME         = pfgit runs stream NAME
  pfgit flow test ...              = pfgit test ...
  pfgit flow validate --source DIR = pfgit validate DIR"""


class RunLookup:
    """What `run visualize` needs to know of the named runs, read from the repository."""

    def __init__(self):
        from ..git.repo import open_repo

        self.repo = open_repo(".")

    def flow_of(self, name: str) -> str:
        from ..store.read import load_run

        return load_run(self.repo, name).flow_path

    def previous(self, name: str) -> str | None:
        """The run of the same flow (and kind: evaluation or not) recorded just before `name`."""
        from ..index import query
        from ..index.db import with_index

        def go(idx):
            me = query.get_run(idx, name)
            if me is None:
                return None
            runs = [r for r in query.list_runs(idx, flow=me["flow"])
                    if bool(r["base_run"]) == bool(me["base_run"])]
            names = [r["name"] for r in runs]
            i = names.index(name)
            return names[i + 1] if i + 1 < len(names) else None
        return with_index(self.repo, go)


def _note(msg: str) -> None:
    print(f"pfgit: {msg}", file=sys.stderr)


def _ignore_verbose(prog: str) -> None:
    _note(f"{prog} --verbose: ignored (pfgit has no log levels; --debug shows tracebacks)")


def _parser(prog: str):
    """An argparse parser with pf's common options (`--verbose`, `-d/--debug`, `--user-agent`)
    whose errors are pfgit's one-line usage errors."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(f"{prog}: {message}")

    p = Parser(prog=f"pfgit {prog}", add_help=False, allow_abbrev=True)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("-d", "--debug", action="store_true")
    p.add_argument("--user-agent")
    return p


def _parse(prog: str, argv: list, build) -> tuple:
    p = _parser(prog)
    build(p)
    ns, extra = p.parse_known_args(argv)
    if ns.verbose:
        _ignore_verbose(prog)
    return ns, extra


def _common_options(prog: str, rest: list) -> tuple:
    """pf's `-d/--debug`, `--verbose` and `--user-agent X` out of a `run create` / `flow test`
    line (whose other options pfgit run / test parse): (["--debug"] or [], the rest)."""
    out, debug, it = [], [], iter(rest)
    for a in it:
        if a == "--":
            out += [a, *it]
        elif a in ("-d", "--debug"):
            debug = ["--debug"]
        elif a == "--verbose":
            _ignore_verbose(prog)
        elif a == "--user-agent":
            next(it, None)
        elif not a.startswith("--user-agent="):
            out.append(a)
    return debug, out


def _name(p) -> None:
    p.add_argument("-n", "--name", required=True)


def _split(args: list) -> tuple:
    """(leading pfgit options such as --debug, the command word's index)."""
    i = 0
    while i < len(args) and args[i] == "--debug":
        i += 1
    return args[:i], i


def is_alias(args: list) -> bool:
    """Whether argv is one of pf's spellings this module rewrites (cheap: no import)."""
    _, i = _split(args)
    if i >= len(args) or args[i] not in ("run", "flow"):
        return False
    nxt = args[i + 1] if i + 1 < len(args) else None
    if args[i] == "flow":
        return True   # pfgit has no `flow` command: every `pfgit flow ...` is pf's
    return nxt in RUN_SUBCOMMANDS or ("run", nxt) in NO_EQUIVALENT


def translate(args: list, lookup=None) -> list | None:
    """The pfgit argv for pf's argv (`is_alias(args)`), or None when the alias printed its own
    help. Raises UsageError for what pfgit cannot do. `lookup` (a RunLookup by default) is asked
    for the flows of the runs `run visualize` names."""
    lead, i = _split(args)
    group, rest = args[i], args[i + 1:]
    sub, rest = (rest[0], rest[1:]) if rest else (None, [])
    if (group, sub) in NO_EQUIVALENT:
        raise UsageError(f"'pf {group} {sub}' has no pfgit equivalent: {NO_EQUIVALENT[(group, sub)]}")
    if group == "flow" and sub not in FLOW_SUBCOMMANDS:
        if sub in (None, "-h", "--help"):
            print(HELP)
            return None
        raise UsageError(f"'pf flow {sub}' has no pfgit equivalent: pfgit has 'pfgit flow test' "
                         "(pfgit test) and 'pfgit flow validate' (pfgit validate)")
    if sub in ("create", "test"):       # pfgit run / test take pf's options themselves
        debug, rest = _common_options(f"{group} {sub}", rest)
        chat = [a for a in rest if a in ("--ui", "--interactive")]
        if sub == "test" and chat:
            raise UsageError(f"flow test {chat[0]}: pfgit has no chat window or session: pfgit test "
                             "runs one line (--inputs K=V ...)")
        return lead + debug + ["run" if sub == "create" else "test"] + rest
    if any(a in ("-h", "--help") for a in rest):
        print(HELP)
        return None
    prog = f"{group} {sub}"
    out = _TRANSLATE[sub](prog, rest, lookup)
    return lead + (["--debug"] if out.pop(0) else []) + out


def _validate(prog, rest, lookup) -> list:
    ns, extra = _parse(prog, rest, lambda p: p.add_argument("--source", required=True))
    return [ns.debug, "validate", *extra, "--", ns.source]


def _list(prog, rest, lookup) -> list:
    def build(p):
        p.add_argument("-r", "--max-results", type=int, default=LIST_DEFAULT)
        p.add_argument("--all-results", action="store_true")
        p.add_argument("--archived-only", action="store_true")
        p.add_argument("--include-archived", action="store_true")
        p.add_argument("-o", "--output", choices=["json", "table"], default="json")

    ns, extra = _parse(prog, rest, build)
    if ns.archived_only:
        raise UsageError(f"{prog} --archived-only: pfgit runs are never archived "
                         "(pfgit run list lists them all)")
    if ns.include_archived:
        _note(f"{prog} --include-archived: pfgit runs are never archived: every run is listed")
    if ns.max_results < 1 and not ns.all_results:
        raise UsageError(f"{prog}: --max-results must be 1 or more (or give --all-results)")
    out = [ns.debug, "runs", "list"]
    if not ns.all_results:
        out += ["-r", str(ns.max_results)]
    if "--json" not in extra and not any(a.startswith("--format") for a in extra):
        out += ["--format", "pf" if ns.output == "json" else "text"]
    return out + extra


def _show(prog, rest, lookup) -> list:
    ns, extra = _parse(prog, rest, _name)
    return [ns.debug, "runs", "show", *extra, "--", ns.name]


def _show_details(prog, rest, lookup) -> list:
    def build(p):
        p.add_argument("-r", "--max-results", type=int, default=DETAILS_DEFAULT)
        p.add_argument("--all-results", action="store_true")
        _name(p)

    ns, extra = _parse(prog, rest, build)
    if ns.max_results < 0:
        raise UsageError(f"{prog}: --max-results must be 0 or more")
    limit = 0 if ns.all_results else ns.max_results
    return [ns.debug, "runs", "show", "--details", "--max-lines", str(limit), *extra, "--", ns.name]


def _show_metrics(prog, rest, lookup) -> list:
    ns, extra = _parse(prog, rest, _name)
    return [ns.debug, "runs", "show", "--metrics", *extra, "--", ns.name]


def _stream(prog, rest, lookup) -> list:
    ns, extra = _parse(prog, rest, _name)
    return [ns.debug, "runs", "stream", *extra, "--", ns.name]


def _visualize(prog, rest, lookup) -> list:
    """pf opens its page of the runs in a browser; pfgit writes `pfgit report`'s page, the runs
    side by side (one run: with the run of its flow before it, or itself when it is the first),
    for the flows of the runs, and prints where."""
    def build(p):
        p.add_argument("-n", "--names", required=True)
        p.add_argument("--html-path")

    ns, extra = _parse(prog, rest, build)
    names = [n.strip() for n in ns.names.split(",") if n.strip()]
    if not names or len(names) > 2:
        raise UsageError(f"{prog}: pfgit report shows two runs side by side: name one or two runs "
                         f"(got {len(names)})")
    lookup = lookup or RunLookup()
    if len(names) == 1:
        names = [lookup.previous(names[0]) or names[0], names[0]]
    flows = list(dict.fromkeys(lookup.flow_of(n) for n in names))
    output = os.path.abspath(ns.html_path or "pfgit-report.html")
    return [ns.debug, "report", f"--compare={names[0]}", f"--compare={names[1]}",
            f"--output={output}", *extra, "--", *flows]


_TRANSLATE = {"validate": _validate, "list": _list, "show": _show, "show-details": _show_details,
              "show-metrics": _show_metrics, "stream": _stream, "visualize": _visualize}

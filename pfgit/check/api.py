"""`pfgit check` as a function: the CI gate of a pull request, as data (schema in docs/ci.md).

    find the baseline and its merge base with HEAD -> the flows changed since (semantic diff)
    -> validate each at HEAD -> the runs of HEAD and of the merge base (recorded runs of the same
    flow tree, made by `run_missing` when given) -> gates on their metrics -> a verdict per flow.

Runs are compared at the merge base, not the baseline's tip, so a pull request is judged on its
own change, not on what landed on the target branch since it started.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dulwich.repo import Repo

from ..errors import ReadError, UsageError
from .changed import Baseline, changed_flows, find_baseline, tree_reader
from .config import CheckConfig, FlowCheck

FLIPPED_SHOWN = 10


@dataclass
class CheckOptions:
    baseline: str | None = None
    flows: list = field(default_factory=list)     # restrict to these flow folders
    gates: list = field(default_factory=list)     # one-off gates from the command line
    config: CheckConfig | None = None
    fetch: bool = True                            # fetch refs/pfgit/* from the baseline's remote
    run_missing: object = None                    # callable(repo, commit, FlowCheck) -> run name | None
    jobs: int = 1                                 # runs made at once (processes), with run_missing


def _run_view(r: dict | None) -> dict | None:
    if r is None:
        return None
    ev = r.get("evaluations") or []
    return {"run": r["name"], "status": r.get("status"), "flow_commit": r.get("flow_commit"),
            "snapshot": r.get("snapshot"), "lines": r.get("lines"),
            "evaluation": ev[0]["name"] if ev else None, "metrics": r.get("effective_metrics", {})}


def _runs_at(idx, commit: bytes, flow: str, skipped: dict) -> list:
    """Usable runs of `flow` at `commit`, best first; a run whose snapshot cannot be read (a
    fetched or hand-made ref) is left out and noted in `skipped` {run: reason}: one bad run never
    fails the check, the others are judged (or a new run made when none is left). The same goes
    for the chosen run's evaluation runs (_drop_unreadable_evaluations)."""
    from ..index import query

    runs = query.attach_metrics(idx, query.list_runs(idx, flow=flow, commit=commit))
    # a run of this flow, not an evaluation run recorded against it; newest with metrics first
    runs = [r for r in runs if not r.get("base_run") and r["name"] not in skipped]
    runs = sorted(runs, key=lambda r: not r["effective_metrics"])
    for i, r in enumerate(runs):  # only the best usable run is read, not every candidate
        reason = _unreadable(idx.repo, r)
        if reason is None:
            _drop_unreadable_evaluations(idx, r, skipped)
            return runs[i:]
        skipped[r["name"]] = reason
    return []


def _drop_unreadable_evaluations(idx, run: dict, skipped: dict) -> None:
    """Leave out `run`'s evaluation runs whose snapshot cannot be read (noted in `skipped`), its
    metrics then come from the readable ones; `evaluations_lost` when it had some and none is left
    (check then makes a new evaluation, as it makes a new run)."""
    from ..index import query

    evals = run.get("evaluations") or []
    keep = []
    for ev in evals:
        if ev["name"] not in skipped:
            er = query.get_run(idx, ev["name"])
            reason = _unreadable(idx.repo, er) if er is not None else None
            if reason is None:
                keep.append(ev)
                continue
            skipped[ev["name"]] = reason
    if len(keep) != len(evals):
        run["evaluations"] = keep
        query.set_effective_metrics(run)
        run["evaluations_lost"] = not keep


def _unreadable(repo: Repo, run: dict) -> str | None:
    """Why a run's snapshot cannot be used, or None."""
    from ..store.read import check_readable

    try:
        check_readable(repo, run["name"], run["snapshot"].encode())
    except (UsageError, ReadError) as e:
        return e.message
    return None


def _failed_lines(run: dict | None, idx) -> int | None:
    from ..index import query

    if run is None:
        return None
    total = (run.get("lines") or {}).get("failed")
    if total is None:
        return None
    evals = run.get("evaluations") or []
    if evals:  # the newest evaluation is the one whose metrics count
        er = query.get_run(idx, evals[0]["name"])
        total += ((er or {}).get("lines") or {}).get("failed") or 0
    return total


def _flipped(repo: Repo, base_run: dict | None, head_run: dict | None) -> dict | None:
    """Lines whose evaluation output differs between the baseline's and the head's evaluation,
    each with the line's inputs and both runs' outputs (what a reviewer needs to judge it)."""
    a_eval = (base_run or {}).get("evaluation")
    b_eval = (head_run or {}).get("evaluation")
    if not a_eval or not b_eval:
        return None
    from ..store.linediff import diff_runs, pick_lines

    try:
        res = diff_runs(repo, a_eval, b_eval, FLIPPED_SHOWN)
        wanted = {e["line"] for e in res["lines"]}
        inputs = pick_lines(repo, head_run["run"], wanted, "inputs.jsonl")
        old = pick_lines(repo, base_run["run"], wanted)
        new = pick_lines(repo, head_run["run"], wanted)
    except (UsageError, ReadError):  # a run whose snapshot cannot be read: no flips shown
        return None
    for e in res["lines"]:
        ln = e["line"]
        e["inputs"] = inputs.get(ln)
        e["baseline_output"], e["head_output"] = old.get(ln), new.get(ln)
    return {"baseline_run": a_eval, "head_run": b_eval, "summary": res["summary"],
            "lines": res["lines"]}


def _problems_at_head(repo: Repo, diffs: list, head: bytes) -> dict:
    """{flow path: [problem JSON]} of every changed flow that still exists at HEAD."""
    from ..validate.api import validate_path

    out = {}
    for fd in diffs:
        if fd.status != "deleted":
            out[fd.path] = [p.to_json() for r in validate_path(tree_reader(repo, head), fd.path)
                            for p in r.problems]
    return out


def _valid(problems: list) -> bool:
    return not any(p["severity"] == "error" for p in problems)


def check_flow(repo: Repo, idx, fd, fc: FlowCheck | None, gates: list, bl: Baseline,
               head: bytes, problems: list, skipped: dict | None = None) -> dict:
    from ..diff.render import stat_counts
    from .gates import judge, judge_failed_lines

    path = fd.path
    out = {"path": path, "status": "formatting-only" if fd.status == "unchanged" else fd.status,
           "diff": stat_counts(fd) if fd.status != "unchanged" else {}, "problems": [],
           "head_run": None, "baseline_run": None, "gates": [], "flipped": None, "notes": [],
           "ok": True}
    if fd.status == "deleted":
        out["notes"].append("flow deleted: nothing to run")
        return out
    out["problems"] = problems
    if not _valid(problems):
        out["ok"] = False
        out["notes"].append("the flow does not validate at HEAD")
        return out
    if fd.status == "unchanged":
        out["notes"].append("formatting only: no run needed")
        return out
    skipped = {} if skipped is None else skipped
    head_runs = _runs_at(idx, head, path, skipped)
    base_runs = _runs_at(idx, bl.base, path, skipped) if fd.status != "added" else []
    h = head_runs[0] if head_runs else None
    b = base_runs[0] if base_runs else None
    out["head_run"], out["baseline_run"] = _run_view(h), _run_view(b)
    if h is None:
        out["notes"].append("no run of this flow at HEAD: record one (pfgit run / pfgit runs "
                            "record) or list the flow in pfgit.yaml")
    if b is None and fd.status != "added":
        out["notes"].append(f"no run at the merge base {bl.base.decode()[:8]}: relative gates "
                            "are not judged")
    hm = h["effective_metrics"] if h else None
    bm = b["effective_metrics"] if b else None
    for g in gates:
        out["gates"].append(dict(judge(g, bm, hm), config_line=g.line))
    if fc is not None and fc.max_failed_lines is not None:
        out["gates"].append(judge_failed_lines(fc.max_failed_lines, _failed_lines(h, idx)))
    out["ok"] = out["ok"] and all(r["status"] != "fail" for r in out["gates"])
    out["flipped"] = _flipped(repo, out["baseline_run"], out["head_run"])
    return out


def _missing_runs(repo: Repo, diffs: list, cfg: CheckConfig, bl: Baseline, head: bytes,
                  problems: dict, skipped: dict) -> list:
    """(commit, FlowCheck, None) for flows that have no recorded run and pfgit.yaml can run (a
    flow that does not validate at HEAD is reported, not run); (commit, FlowCheck, run) for a run
    whose every evaluation run was unreadable (only the evaluations are made)."""
    from ..index.db import with_index

    def go(idx):
        out = []
        for fd in diffs:
            fc = cfg.for_flow(fd.path)
            if fc is None or fc.run is None or fd.status in ("deleted", "unchanged") \
                    or not _valid(problems[fd.path]):
                continue
            for commit in ([head] + ([bl.base] if fd.status != "added" else [])):
                found = _runs_at(idx, commit, fd.path, skipped)
                if not found:
                    out.append((commit, fc, None))
                elif found[0].get("evaluations_lost") and fc.evaluations:
                    out.append((commit, fc, found[0]["name"]))   # evaluate that run again
        return out

    return with_index(repo, go)


def _run_one(args) -> list:
    """In a worker process: one flow (and its evaluations) at one commit; the runs it made."""
    from ..git.repo import open_repo
    from . import runs

    repo_path, commit, fc, base_run = args
    runs.RUNS_MADE.clear()
    runs.run_at_commit(open_repo(repo_path), commit, fc, base_run=base_run)
    return list(runs.RUNS_MADE)


def _make_missing_runs(repo: Repo, tasks: list, opts: CheckOptions) -> None:
    """Make the missing runs: in this process one after the other, or with `jobs` > 1 that many
    at a time, each in its own process (a run changes the process's folder and environment while
    its lines execute, so runs cannot share one)."""
    import concurrent.futures as cf
    import multiprocessing

    from . import runs

    if opts.jobs <= 1 or len(tasks) < 2:
        for commit, fc, base_run in tasks:
            if base_run is None:
                opts.run_missing(repo, commit, fc)
            else:
                opts.run_missing(repo, commit, fc, base_run=base_run)
        return
    ctx = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(max_workers=min(opts.jobs, len(tasks)), mp_context=ctx) as pool:
        for made in pool.map(_run_one, [(repo.path, *t) for t in tasks]):
            runs.RUNS_MADE.extend(made)


def run_check(repo: Repo, opts: CheckOptions) -> dict:
    from ..git.repo import resolve
    from ..index.db import with_index

    bl = find_baseline(repo, opts.baseline)
    head = resolve(repo, "HEAD")
    fetched = None
    if opts.fetch and bl.remote:
        from ..git import remote as gremote
        from ..errors import PfgitError

        try:
            fetched = gremote.fetch(repo.path, bl.remote)
        except PfgitError as e:  # offline CI: judge with the runs at hand, and say so
            fetched = {"remote": bl.remote, "error": e.message}
    cfg = opts.config or CheckConfig()
    only = list(opts.flows) or None
    diffs = changed_flows(repo, bl.base, head, only)
    from ..git.repo import utf8_path

    for fd in diffs:   # a changed flow the gate cannot judge fails it (exit 2), never passes unseen
        utf8_path(fd.path)
    if not opts.gates and not cfg.flows:
        raise UsageError("nothing to check: add pfgit.yaml or give --metric NAME with a bound")

    def go(idx):
        results = []
        for fd in diffs:
            fc = cfg.for_flow(fd.path)
            if fc is None and not opts.gates:
                continue  # a changed flow with no checks configured
            # the command line's gates add to the file's, and win for the same metric
            merged = {g.metric: g for g in (fc.gates if fc is not None else [])}
            merged.update({g.metric: g for g in opts.gates})
            gates = list(merged.values())
            results.append(check_flow(repo, idx, fd, fc, gates, bl, head,
                                      problems.get(fd.path, []), skipped))
        return results

    problems = _problems_at_head(repo, diffs, head)
    skipped: dict = {}
    if opts.run_missing is not None:
        _make_missing_runs(repo, _missing_runs(repo, diffs, cfg, bl, head, problems, skipped), opts)
    flows = with_index(repo, go)
    return {"baseline": {"spec": bl.spec, "commit": bl.tip.decode(), "merge_base": bl.base.decode(),
                         "fetched": fetched},
            "head": {"commit": head.decode()},
            "flows": flows,
            "skipped_runs": [{"run": n, "reason": why} for n, why in sorted(skipped.items())],
            "ok": all(f["ok"] for f in flows)}

"""`pfgit bisect`: the first commit where a flow's metric crossed a threshold, found by driving
`git bisect run` in a temporary linked worktree (the user's worktree, index, branch and any bisect
of their own are untouched; a dirty worktree is fine). Each step is this module run by git as
`python -m pfgit.integrate.bisect step STATE`: it judges the checked-out commit from a recorded
run of that flow tree, else runs the flow with pfgit.yaml's settings (pfgit.check.bisect), and
exits 0 (good), 1 (bad) or 125 (skip: no value), as `git bisect run` expects.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

from ..errors import EXIT_NO, PfgitError, UsageError

_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.M)


def _fc_json(fc) -> dict | None:
    if fc is None:
        return None
    return {"flow": fc.flow, "run": fc.run,
            "evaluations": [{"flow": e.flow, "settings": e.settings} for e in fc.evaluations]}


def _fc_from(d: dict | None):
    if d is None:
        return None
    from ..check.config import Evaluation, FlowCheck

    return FlowCheck(flow=d["flow"], run=d["run"],
                     evaluations=[Evaluation(e["flow"], e["settings"]) for e in d["evaluations"]])


def first_flow_commit(repo_path: str, head: bytes, flow: str) -> bytes:
    """The oldest first-parent commit that has the flow (what GOOD defaults to)."""
    from ..git.tempcheckout import git

    p = git(repo_path, "rev-list", "--first-parent", "--reverse", head.decode(), "--", flow)
    shas = p.stdout.split()
    if not shas:
        raise UsageError(f"no commit of HEAD's history has the flow '{flow}'")
    return shas[0].encode()


def run_bisect(repo, flow: str, th, good: str | None = None, bad: str | None = None,
               fc=None) -> dict:
    from ..check.bisect import BAD, GOOD, judge_commit
    from ..git.repo import resolve
    from ..git.tempcheckout import checkout, git

    bad_c = resolve(repo, bad or "HEAD")
    good_c = resolve(repo, good) if good else first_flow_commit(repo.path, bad_c, flow)
    if good_c == bad_c:
        raise UsageError("GOOD and BAD are the same commit")
    steps = []

    def endpoint(label: str, c: bytes, want: str, run: bool) -> bool:
        """Judge an endpoint; False when it was not judged (no recorded run, and run=False)."""
        j = judge_commit(repo, c, flow, th, fc if run else None)
        if j["value"] is None and not run:
            return False
        steps.append(j)
        if j["verdict"] != want:
            shown = "no value" if j["value"] is None else f"{th.metric}={j['value']}"
            raise PfgitError(f"the {label} commit {c.decode()[:8]} is {j['verdict']} for "
                             f"{th.describe()} ({shown})" + (
                                 "" if j["value"] is not None or fc is not None else
                                 "; record a run there, or give the flow a 'run:' in pfgit.yaml"),
                             exit_code=EXIT_NO)
        return True

    # BAD is always judged (a HEAD that meets the threshold leaves nothing to find). GOOD is judged
    # from a recorded run, else taken as given like `git bisect` does, and run only if the answer
    # ends up resting on it: each run saved keeps a 50-commit bisect within 7 runs.
    endpoint("bad", bad_c, BAD, run=True)
    good_judged = endpoint("good", good_c, GOOD, run=False)
    with tempfile.TemporaryDirectory(prefix="pfgit-bisect-") as tmp:
        state = os.path.join(tmp, "state.json")
        log = os.path.join(tmp, "steps.jsonl")
        with open(state, "w", encoding="utf-8") as f:
            json.dump({"flow": flow, "metric": th.metric, "min": th.min, "max": th.max,
                       "fc": _fc_json(fc), "log": log}, f)
        with checkout(repo.path, bad_c) as wt:
            git(wt, "bisect", "start", bad_c.decode(), good_c.decode(), "--", flow)
            p = git(wt, "bisect", "run", sys.executable, "-m", "pfgit.integrate.bisect", "step",
                    state, check=False)
            git(wt, "bisect", "reset", check=False)
        if os.path.exists(log):
            with open(log, encoding="utf-8") as f:
                logged = [json.loads(line) for line in f if line.strip()]
            # `git bisect run` judges its first checkout even when that is BAD, judged above:
            # a commit is one step ("3 commits judged" for 2, a recorded run counted twice)
            seen = {s["commit"] for s in steps}
            for s in logged:
                if s["commit"] not in seen:
                    seen.add(s["commit"])
                    steps.append(s)
    m = _FIRST_BAD.search(p.stdout)
    if not m:
        tail = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()][-3:]
        raise PfgitError("git bisect found no first bad commit: " + " / ".join(tail))
    first = m.group(1)
    c = repo[first.encode()]
    if not good_judged and c.parents and c.parents[0] == good_c:
        endpoint("good", good_c, GOOD, run=True)
    hit = next((s for s in reversed(steps) if s["commit"] == first), None)
    return {"flow": flow, "threshold": th.describe(), "metric": th.metric,
            "good": good_c.decode(), "bad": bad_c.decode(),
            "first_bad": {"commit": first,
                          "summary": c.message.decode("utf-8", "replace").splitlines()[0]
                          if c.message else "",
                          "author": c.author.decode("utf-8", "replace").split(" <")[0],
                          "time": c.commit_time,
                          "value": hit["value"] if hit else None, "run": hit["run"] if hit else None},
            "steps": steps,
            "runs_used": sum(1 for s in steps if s["run"] and not s["made"]),
            "runs_made": sum(1 for s in steps if s["made"])}


def render_text(res: dict) -> str:
    import time

    out = [f"bisecting flow {res['flow']}: {res['threshold']} is good "
           f"(good {res['good'][:8]}, bad {res['bad'][:8]})"]
    for s in res["steps"]:
        how = "no run" if not s["run"] else (f"ran {s['run']}" if s["made"] else f"run {s['run']}")
        val = "-" if s["value"] is None else f"{s['value']:.6g}" if isinstance(s["value"], float) \
            else str(s["value"])
        out.append(f"  {s['commit'][:8]}  {res['metric']}={val:<10} {s['verdict']:<5} ({how})")
    fb = res["first_bad"]
    when = time.strftime("%Y-%m-%d", time.gmtime(fb["time"]))
    val = "" if fb["value"] is None else f"  {res['metric']}={fb['value']}"
    out.append(f"first bad commit: {fb['commit'][:8]}  {fb['author']}  {when}  {fb['summary']}{val}")
    out.append(f"{len(res['steps'])} commits judged: {res['runs_used']} recorded runs used, "
               f"{res['runs_made']} runs made")
    return "\n".join(out) + "\n"


def step(state_path: str) -> int:
    """One `git bisect run` step, in the temporary worktree git checked out."""
    from ..check.bisect import BAD, GOOD, Threshold, judge_commit
    from ..git.repo import open_repo, resolve

    with open(state_path, encoding="utf-8") as f:
        st = json.load(f)
    repo = open_repo(".")
    head = resolve(repo, "HEAD")
    th = Threshold(st["metric"], st["min"], st["max"])
    try:
        j = judge_commit(repo, head, st["flow"], th, _fc_from(st["fc"]), worktree=repo.path)
    except PfgitError as e:  # a commit whose flow cannot run: skipped, as git bisect skip does
        print(f"pfgit bisect: {head.decode()[:8]}: skipped: {e.message}", file=sys.stderr)
        j = {"commit": head.decode(), "value": None, "run": None, "made": False, "verdict": "skip"}
    with open(st["log"], "a", encoding="utf-8") as f:
        f.write(json.dumps(j) + "\n")
    return {GOOD: 0, BAD: 1}.get(j["verdict"], 125)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "step":
        try:
            sys.exit(step(sys.argv[2]))
        except Exception as e:  # anything unexpected stops the bisect (git: exit > 127 aborts)
            print(f"pfgit bisect: step failed: {e}", file=sys.stderr)
            sys.exit(128)
    print("usage: python -m pfgit.integrate.bisect step STATE", file=sys.stderr)
    sys.exit(2)

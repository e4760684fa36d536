"""Making the runs a check or a bisect step needs: the flow as it was at a commit, run with the
settings pfgit.yaml gives it, then its evaluation flows over that run; each recorded as a snapshot
linked to that commit (so the next check finds it and runs nothing).

The commit is checked out in a temporary linked worktree (pfgit.git.tempcheckout), or used in
place when the caller is already there (a bisect step); the user's worktree is never touched.
"""

from __future__ import annotations

import os
from dataclasses import replace

from dulwich.repo import Repo

from ..errors import PfgitError, UsageError
from .config import FlowCheck

RUNS_MADE = []  # names of the runs made by this process (tests and reports count them)


def _inside(worktree: str, key: str, value: str, start: str | None = None) -> str:
    """`value` resolved against `start` (default the checkout); pfgit.yaml parsing refused `..`
    and absolute paths, this refuses a committed symlink that leads out of the repository."""
    from ..flow.readers import outside_repository

    full = os.path.join(start or worktree, value)
    if outside_repository(full, start or worktree):
        raise UsageError(f"'{key}' names '{value}', which resolves outside the repository",
                         file="pfgit.yaml")
    return full


def _spec(worktree: str, flow: str, settings: dict | str | None, base_run: str | None = None):
    from ..run.spec import RunSpec

    if isinstance(settings, str):  # a run.yml inside the repository
        from ..run.runfile import load_run_file

        spec, _notes = load_run_file(_inside(worktree, "run", settings), given=("flow",))
        spec = replace(spec, name=None)
    else:
        s = dict(settings or {})
        known = set(RunSpec.__dataclass_fields__)
        for k in ("data", "environment_variables", "init"):   # files of the checkout
            if isinstance(s.get(k), str):
                s[k] = _inside(worktree, k, s[k])
        if isinstance(s.get("init"), str):
            from ..run.testline import read_inputs_file

            s["init"] = read_inputs_file(s["init"])
        if isinstance(s.get("llm_cache"), str):   # shared by every commit checked: the cwd's
            s["llm_cache"] = _inside(worktree, "llm_cache", s["llm_cache"], os.getcwd())
        spec = RunSpec(flow=flow, **{k: v for k, v in s.items() if k in known and k != "flow"})
    spec = replace(spec, flow=_inside(worktree, "flow", flow), name=None)
    if base_run is not None:
        spec = replace(spec, run=base_run)
    return spec


def run_configured(worktree: str, fc: FlowCheck, base_run: str | None = None) -> str:
    """Run `fc`'s flow and evaluations in `worktree` (a checkout of the wanted commit); returns the
    main run's name. With `base_run` (a recorded run whose evaluations were unreadable) only the
    evaluations are run, over it. Raises PfgitError when the flow has no run settings or a run
    fails to start."""
    from ..git.repo import open_repo
    from ..run.batch import run_batch

    if fc.run is None:
        raise UsageError(f"pfgit.yaml gives flow '{fc.flow}' no run settings (add 'run:')")
    repo = open_repo(worktree)
    if base_run is None:
        main = run_batch(_spec(worktree, fc.flow, fc.run), repo=repo)
        RUNS_MADE.append(main.name)
        base_run = main.name
    for ev in fc.evaluations:
        settings = dict(ev.settings)
        if "data" not in settings and isinstance(fc.run, dict) and fc.run.get("data"):
            settings["data"] = fc.run["data"]  # evaluations read the base run's data by default
        out = run_batch(_spec(worktree, ev.flow, settings, base_run=base_run), repo=repo)
        RUNS_MADE.append(out.name)
    return base_run


def run_at_commit(repo: Repo, commit: bytes, fc: FlowCheck, base_run: str | None = None) -> str | None:
    """`run_configured` at `commit` in a temporary worktree; None when pfgit.yaml has no run
    settings for the flow (nothing can be run)."""
    from ..git.tempcheckout import checkout

    if fc.run is None:
        return None
    with checkout(repo.path, commit) as wt:
        try:
            return run_configured(wt, fc, base_run)
        except PfgitError as e:
            raise PfgitError(f"running flow '{fc.flow}' at {commit.decode()[:8]}: {e.message}",
                             file=e.file, line=e.line) from None

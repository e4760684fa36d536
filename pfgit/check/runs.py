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


def _spec(worktree: str, flow: str, settings: dict | str | None, base_run: str | None = None):
    from ..run.spec import RunSpec

    if isinstance(settings, str):  # a run.yml inside the repository
        from ..run.runfile import load_run_file

        spec, _notes = load_run_file(os.path.join(worktree, settings))
        spec = replace(spec, name=None)
    else:
        s = dict(settings or {})
        known = set(RunSpec.__dataclass_fields__)
        spec = RunSpec(flow=flow, **{k: v for k, v in s.items() if k in known and k != "flow"})
        if spec.data and not os.path.isabs(spec.data):
            spec = replace(spec, data=os.path.join(worktree, spec.data))
    spec = replace(spec, flow=os.path.join(worktree, flow), name=None)
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

"""The older part of a cold walk computed in a forked child, on the machine's other core.

A first question on a long history computes a step and a delta per commit (most of its time),
and a first-parent walk goes down one chain, newest first. After the read-ahead
(pfgit.history.versions.preload: every commit, flow folder and flow file is then in memory) a
child forked from the walk computes the steps and deltas of the older part of the chain - the same
FlowHistory code on a copy of the same state, with its own `git cat-file` - while the parent walks
the newer part; the child then sends its new cache rows (steps, versions, deltas) in one pickle
and the parent takes them as it takes cached rows (FlowHistory.prefetch), when its walk first
reaches that part. A child that fails or dies costs only time: the parent computes what it did
not get. The child reads nothing through dulwich or SQLite, whose open files it shares with the
parent: a step that would (a flow moved from another folder) ends its part of the walk there.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal

MIN_CHAIN = 200  # commits: below this the fork and its imports cost more than they save
SHARE = 0.55  # of the chain, oldest first, to the child (the parent also runs the walk itself)


def available(n_commits: int) -> bool:
    """Worth a child: a long chain, and a core to spare (the load average, this process included,
    half a core below the number of cores). With the cores busy two processes only share them,
    and the split costs CPU (the child's own parses and git: +0.3-0.4 s of CPU on
    bench/history.py): measured there, one walk is faster from a load of about 2.4 on 2 cores."""
    cpus = os.cpu_count() or 1
    if n_commits < MIN_CHAIN or not hasattr(os, "fork") or cpus < 2:
        return False
    try:
        return os.getloadavg()[0] < cpus - 0.5
    except OSError:
        return True


class _Refused(Exception):
    pass


def _refuse(*_a, **_k):
    raise _Refused("not in the child")


class WalkAhead:
    """A child computing the first-parent chain's steps and deltas from `commit` (folder `path`)
    down; `commits` are the chain's commits it covers."""

    def __init__(self, hist, commit: str, path: str, commits: set):
        self.commits = commits
        r, w = os.pipe()
        gc.freeze()  # the cyclic GC would write to every object both processes share (copy-on-write)
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            os.close(r)
            os.close(w)
            raise
        if pid == 0:  # the child: compute, send, exit without the parent's clean-ups
            code = 1
            try:
                os.close(r)
                _child(hist, commit, path, w)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self.pid = pid
        self._r: int | None = r

    def take(self) -> dict | None:
        """The child's new rows {"steps", "versions", "deltas"} (waiting for them), or None when it
        failed; only once."""
        r, self._r = self._r, None
        if r is None:
            return None
        try:
            with os.fdopen(r, "rb") as f:
                return pickle.load(f)
        except Exception:  # EOF: the child failed; the parent computes that part itself
            return None
        finally:
            self._reap()

    def close(self) -> None:
        """Stop the child if its rows were not taken (the walk ended earlier), and reap it."""
        r, self._r = self._r, None
        if r is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(r)
            self._reap()

    def _reap(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        gc.unfreeze()


def _child(hist, commit: str, path: str, fd: int) -> None:
    from ..git.batch import CatFile

    v = hist.versions
    v.cat = CatFile(v.git_dir)  # its own: the parent's pipe is the parent's
    v.reader = _refuse  # dulwich's pack files share their offsets with the parent
    v.repo = None
    hist.conn = None  # SQLite connections must not cross a fork
    hist._new = {"steps": [], "versions": {}, "deltas": []}
    try:
        st = hist.step(commit, path)
        while st is not None and st.boundary is None and st.parents and st.parents[0][1] is not None:
            ps = hist.step(*st.parents[0])
            if ps is None:
                break
            hist.delta(ps, st)
            st = ps
    except Exception:  # _Refused, or anything else: what was computed so far is still right
        pass
    finally:
        v.cat.close()
    with os.fdopen(fd, "wb") as f:
        pickle.dump(hist._new, f, protocol=pickle.HIGHEST_PROTOCOL)


__all__ = ["WalkAhead", "available", "MIN_CHAIN"]

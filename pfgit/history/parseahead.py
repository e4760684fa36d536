"""Parsing a history's flow files ahead of the walk, in a forked child process.

A cold walk parses every distinct version of the flow file (about half its time on a long
history) and the rest of its work - diffs, the walk, cache rows - needs one version at a time,
newest first. A child forked after the read-ahead (pfgit.history.versions.preload: every flow file
is then in memory) parses them in that order on the machine's other core and streams the results
through one pickle stream, whose memo keeps what versions share (a node parsed once is one object
in every version, which the diff compares by identity). The parent takes results as it needs them
and parses itself whatever the child did not send (a file that does not parse: its error message
names the step's file), so a child that dies, or no fork at all, only costs time.
"""

from __future__ import annotations

import os
import pickle

MIN_VERSIONS = 64  # below this the fork and the stream cost more than they save
_BATCH = 8  # versions per pickle frame: the parent waits for at most this many


def available(n_versions: int) -> bool:
    return n_versions >= MIN_VERSIONS and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


class ParseAhead:
    """A child parsing `todo` [(blob id, raw bytes, flow file path)] in order."""

    def __init__(self, todo: list):
        self.pending = {bid for bid, _, _ in todo}
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: parse, stream, exit without running the parent's clean-ups
            code = 1
            try:
                os.close(r)
                _child(todo, w)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self.pid = pid
        self._f = os.fdopen(r, "rb")
        self._u = pickle.Unpickler(self._f)

    def take(self, bid: str, into: dict) -> bool:
        """Read results into `into` ({blob id: (data, None)}) until `bid`'s has come; False when
        the child will not send it (the caller parses it itself)."""
        if self._u is None or bid not in self.pending:
            return False
        while bid in self.pending:
            try:
                batch = self._u.load()
            except Exception:  # EOF: the child died; everything left is the caller's
                self.close()
                return False
            for b, data in batch:
                self.pending.discard(b)
                if data is not None:
                    into[b] = (data, None)
        return bid in into

    def close(self) -> None:
        """Stop the child (it ends at its next write) and reap it."""
        f, self._f, self._u = self._f, None, None
        self.pending = set()
        if f is not None:
            f.close()
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


def _child(todo: list, fd: int) -> None:
    from ..diff.tree import parse_flow_data

    cache: dict = {}
    with os.fdopen(fd, "wb", buffering=1 << 16) as f:
        p = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)  # one memo for the whole stream
        batch: list = []
        for bid, raw, file in todo:
            try:
                data, err = parse_flow_data(raw, file, cache, min_bytes=0)
            except Exception:
                data, err = None, True
            batch.append((bid, None if err is not None else (data if isinstance(data, dict) else {})))
            if len(batch) >= _BATCH:
                p.dump(batch)
                f.flush()
                batch = []
        if batch:
            p.dump(batch)


__all__ = ["ParseAhead", "available"]

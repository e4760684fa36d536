"""Line diffs in bounded time. difflib's matcher is quadratic or worse on repetitive text (8,000
lines of ~150 distinct ones: 4.6 s; a 10 MB file of them would hang `git diff` through the driver
on a pull request). Up to MAX_PRODUCT line pairs, difflib's answer is used as it is; above, the
common prefix and suffix are matched directly and only a middle small enough goes to difflib,
a bigger middle counting as replaced whole (a valid, not minimal, diff).
"""

from __future__ import annotations

import difflib

MAX_PRODUCT = 16_000_000   # line pairs: 4,000 x 4,000 repetitive lines is ~0.6 s of difflib


class BoundedMatcher(difflib.SequenceMatcher):
    """SequenceMatcher whose opcodes (and what difflib derives from them: grouped opcodes, the
    unified diff below) cost at most ~MAX_PRODUCT comparisons."""

    def __init__(self, a, b, autojunk: bool = True):
        super().__init__(None, a, b, autojunk=autojunk)
        self._ops = None

    def get_opcodes(self):
        if self._ops is None:
            a, b = self.a, self.b
            if len(a) * len(b) <= MAX_PRODUCT:
                self._ops = super().get_opcodes()
            else:
                self._ops = _bounded_opcodes(a, b, self.autojunk)
        return self._ops

    def matching_pairs(self):
        """(a index, b index) of every line matched: the equal opcodes."""
        for tag, i1, i2, j1, _ in self.get_opcodes():
            if tag == "equal":
                yield from ((i1 + k, j1 + k) for k in range(i2 - i1))


def _bounded_opcodes(a, b, autojunk: bool) -> list:
    p = 0
    top = min(len(a), len(b))
    while p < top and a[p] == b[p]:
        p += 1
    s = 0
    while s < top - p and a[len(a) - 1 - s] == b[len(b) - 1 - s]:
        s += 1
    ma, mb = a[p:len(a) - s], b[p:len(b) - s]
    ops = [("equal", 0, p, 0, p)] if p else []
    if len(ma) * len(mb) <= MAX_PRODUCT:
        sm = difflib.SequenceMatcher(None, ma, mb, autojunk=autojunk)
        ops += [(t, i1 + p, i2 + p, j1 + p, j2 + p) for t, i1, i2, j1, j2 in sm.get_opcodes()]
    elif ma or mb:
        ops.append(("replace" if ma and mb else "delete" if ma else "insert",
                    p, p + len(ma), p, p + len(mb)))
    if s:
        ops.append(("equal", len(a) - s, len(a), len(b) - s, len(b)))
    return ops


def _range(start: int, stop: int) -> str:
    """difflib's unified range: `start,length` (1-based; an empty range names the line before)."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def unified_diff(a: list, b: list, fromfile: str, tofile: str, n: int = 3):
    """difflib.unified_diff's lines (same output while under MAX_PRODUCT), in bounded time."""
    started = False
    for group in BoundedMatcher(a, b).get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])

"""`pfgit.git.objects.iter_lines`: a blob's lines, streamed, in linear time whatever the line
length (a fetched run's 60 MB one-line outputs.jsonl kept `runs show --details` busy 2 minutes)."""

from __future__ import annotations

import threading

from pfgit.git import objects


def _lines(monkeypatch, chunks):
    monkeypatch.setattr(objects, "iter_blob", lambda repo, sha: iter(chunks))
    return list(objects.iter_lines(None, b"x"))


def test_lines_across_chunks_keep_every_byte(monkeypatch):
    chunks = [b"a", b"b\nc", b"", b"\n\n", b"d", b"e\nf"]
    assert _lines(monkeypatch, chunks) == [b"ab\n", b"c\n", b"\n", b"de\n", b"f"]
    assert _lines(monkeypatch, [b"x\n"]) == [b"x\n"]
    assert _lines(monkeypatch, []) == []


def test_a_long_line_in_many_chunks_takes_linear_time(monkeypatch):
    chunks = [b"A" * 1024] * 16384 + [b"\nend\n"]      # a 16 MB line in 1 KB chunks
    got = []
    t = threading.Thread(target=lambda: got.extend(_lines(monkeypatch, chunks)), daemon=True)
    t.start()
    t.join(60)   # linear: well under a second; re-splitting the growing line: many minutes
    assert got and len(got[0]) == 16 * 1024 * 1024 + 1 and got[1] == b"end\n"

"""Regressions from the reviews of session 17 (hostile fetched runs, nested run refs, runs with a
million metrics, `pfgit test` of a link out of the repository): each test fails without its fix."""

from __future__ import annotations

import json
import tracemalloc

from runs_helpers import open_repo, run_cli
from secure_helpers import git, make_flow_repo


def _base_run_with_errors_log(tmp_path, monkeypatch, capsys, errors: bytes):
    """A run `base` of 2 lines, line 1 failed, whose logs/errors.jsonl is `errors`."""
    repo = make_flow_repo(tmp_path)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    (tmp_path / "in.jsonl").write_text('{"line_number": 0, "q": "x"}\n{"line_number": 1, "q": "y"}\n')
    (tmp_path / "errors.jsonl").write_bytes(errors)
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--inputs", str(tmp_path / "in.jsonl"),
                           "--log", str(tmp_path / "errors.jsonl"), "--name", "base", "--status", "Failed")
    assert code == 0, err
    return repo


def test_a_base_runs_errors_log_is_streamed_and_its_long_lines_left_out(tmp_path, monkeypatch, capsys):
    """An evaluation run read its base run's errors.jsonl whole (and split it: twice its size);
    a fetched one can inflate to gigabytes. Now line by line, a line over 1 MB left out with a note."""
    from pfgit.run.baserun import load_base

    long_line = json.dumps({"line_number": 1, "message": "x" * (2 << 20)}).encode() + b"\n"
    errors = long_line * 20 + b'{"line_number": 1, "message": "boom"}\n'    # 40 MB
    repo = _base_run_with_errors_log(tmp_path, monkeypatch, capsys, errors)
    r = open_repo(repo)
    tracemalloc.start()
    base = load_base(r, "base")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert base.failed == {1: "boom"}
    assert peak < 16 << 20, peak
    assert base.notes == ["base run 'base': 20 line(s) of logs/errors.jsonl over 1 MB left out, unread "
                          "(a failed line they name says only 'failed')"]


def test_a_base_runs_errors_log_bigger_than_pfgit_reads_is_not_read(tmp_path, monkeypatch, capsys):
    from pfgit.run.baserun import load_base
    from pfgit.store import read

    errors = b'{"line_number": 1, "message": "boom"}\n' + b'{"line_number": 9, "message": "padding"}\n' * 3000
    repo = _base_run_with_errors_log(tmp_path, monkeypatch, capsys, errors)
    monkeypatch.setattr(read, "MAX_LOG_BYTES", 64 << 10)     # stands for 256 MB
    seen = []
    real = read.gobj.iter_blob
    monkeypatch.setattr(read.gobj, "iter_blob", lambda *a, **k: seen.append(a) or real(*a, **k))
    base = load_base(open_repo(repo), "base")
    log = git(repo, "rev-parse", "refs/pfgit/runs/base:logs/errors.jsonl").strip().encode()
    assert base.failed == {1: "failed"} and log not in [a[1] for a in seen]   # judged by its header
    [note] = base.notes
    assert note.startswith(f"run 'base': logs/errors.jsonl is {len(errors):,} bytes, more than pfgit reads")
    assert note.endswith("a hand-made or fetched ref?): not read; its failed lines say only 'failed'")
    assert read.logs(open_repo(repo), read.load_run(open_repo(repo), "base"), max_bytes=1000) == {}


def test_iter_lines_with_a_cap_gives_none_for_each_long_line_and_keeps_the_others(tmp_path):
    from pfgit.git.objects import iter_lines

    repo = make_flow_repo(tmp_path)
    big = b"y" * 200_000                                  # spans chunks of 64 KB
    for text, want in ((b"a\n" + big + b"\nb\n" + big, [b"a\n", None, b"b\n", None]),
                       (big + b"\n" + big + b"\nc", [None, None, b"c"]),
                       (b"short\n" + b"z" * 99_999 + b"\n", [b"short\n", b"z" * 99_999 + b"\n"])):
        sha = git(repo, "hash-object", "-w", "--stdin", input=text.decode()).strip().encode()
        assert list(iter_lines(open_repo(repo), sha, max_line=100_000)) == want
        assert b"".join(iter_lines(open_repo(repo), sha)) == text               # no cap: as before


def test_a_nested_run_ref_is_no_run_loose_or_packed(tmp_path, monkeypatch, capsys):
    """refs/pfgit/runs/a/b (fetched, or hand-made) showed in `runs list` only after `git pack-refs`;
    run names hold no '/', so it is no run in either storage, and `pfgit fetch` says so."""
    remote = make_flow_repo(tmp_path, "remote")
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    code, _, err = run_cli(monkeypatch, capsys, remote, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--name", "good")
    assert code == 0, err
    git(remote, "update-ref", "refs/pfgit/runs/a/b", "refs/pfgit/runs/good")
    local = make_flow_repo(tmp_path, "local")
    code, out, err = run_cli(monkeypatch, capsys, local, "fetch", str(remote))
    assert code == 0 and "fetched 2 ref(s)" in out
    assert err == ("pfgit: refs/pfgit/runs/a/b is not a run (a run name holds no '/'): fetched, not listed; "
                   "to keep it, git update-ref refs/pfgit/runs/NEW_NAME refs/pfgit/runs/a/b\n")
    for packed in (False, True):
        if packed:
            git(local, "pack-refs", "--all")
            assert "refs/pfgit/runs/a/b" in (local / ".git" / "packed-refs").read_text()
        code, out, _ = run_cli(monkeypatch, capsys, local, "runs", "list", "--json")
        assert [r["name"] for r in json.loads(out)["runs"]] == ["good"], packed
        code, _, err = run_cli(monkeypatch, capsys, local, "runs", "show", "a/b")
        assert code == 2 and err == "pfgit: unknown run 'a/b'\n", packed


def test_log_and_runs_show_print_the_first_metrics_and_how_many_more(tmp_path, monkeypatch, capsys):
    """A run with 1,000,000 metrics printed them all on one line of `pfgit log`; --json keeps all."""
    from pfgit.index import render

    repo = make_flow_repo(tmp_path)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    metrics = {f"m{i:03d}": i for i in range(render.MAX_INLINE_METRICS + 25)}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--metrics", str(tmp_path / "metrics.json"), "--name", "big")
    assert code == 0, err
    first = "  ".join(f"m{i:03d}={i}" for i in range(render.MAX_INLINE_METRICS))
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log")
    assert f"    big  Completed  1/1  {first}  ... and 25 more (--json lists all)\n" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "big")
    assert f"metrics   {first}  ... and 25 more (--json lists all)\n" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--metric", "m030")
    assert "big  Completed  1/1  m030=30\n" in out                                  # asked for: shown
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--json")
    assert json.loads(out)["flows"][0]["commits"][0]["runs"][0]["metrics"] == metrics


def test_metric_values_are_indexed_and_read_back_as_one_by_one(tmp_path):
    """The fast paths (no json.dumps for plain numbers, one parse for all values) change nothing."""
    import math

    from pfgit.index.db import _metric_rows
    from pfgit.index.query import _values
    from pfgit.store.jsondata import loads, real

    values = [0, -7, 1 << 53, 10 ** 30, 0.1, -2.5e-300, 1e308, math.inf, -math.inf, math.nan, True, False,
              None, "x", [1, {"a": 2}], {"b": "c"}]
    rows = list(_metric_rows("r", {f"k{i}": v for i, v in enumerate(values)}))
    for (run, name, r, js), v in zip(rows, values):
        assert js == json.dumps(v) and (r == real(v) or (r is None and real(v) is None)), v
    got = _values([js for *_, js in rows])
    assert json.dumps(got) == json.dumps([loads(json.dumps(v)) for v in values])
    assert _values(["1", "{not json", "[2]"]) == [1, None, [2]]                       # one bad: the others


def test_test_and_run_refuse_a_flow_that_is_a_link_out_of_the_repository(tmp_path, monkeypatch, capsys):
    """`pfgit test --flow flows/g`, g a committed link to another checkout: it ran that flow and
    printed its node names (run and validate refused it); so did a flow file that is such a link."""
    import os

    from secure_helpers import ECHO, FLOW

    repo = make_flow_repo(tmp_path)
    outside = tmp_path / "outside" / "oflow"
    outside.mkdir(parents=True)
    (outside / "flow.dag.yaml").write_text(FLOW.replace("name: echo", "name: outside_node"))
    (outside / "echo.py").write_text(ECHO)
    os.symlink(outside, repo / "g")
    os.symlink(outside / "flow.dag.yaml", repo / "flow" / "other.dag.yaml")
    (repo / "h").mkdir()
    (repo / "h" / "echo.py").write_text(ECHO)
    os.symlink(outside / "flow.dag.yaml", repo / "h" / "flow.dag.yaml")
    os.symlink("flow", repo / "alias")                                   # a link inside: fine
    (repo / "d.jsonl").write_text('{"q": "a"}\n')
    for flow in ("g", "g/flow.dag.yaml", "flow/other.dag.yaml", "h"):
        shown = flow if flow != "h" else "h/flow.dag.yaml"
        for argv in (["test", "--flow", flow, "--inputs", "q=hi"], ["run", "--flow", flow, "--data", "d.jsonl"]):
            code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
            assert code == 2 and "outside_node" not in out + err, (argv, out, err)
            assert err == (f"pfgit: {shown}: resolves outside the repository (a symbolic link out, or its "
                           ".git folder); not read\n"), (argv, err)
    code, out, err = run_cli(monkeypatch, capsys, repo, "test", "--flow", "alias", "--inputs", "q=hi")
    assert code == 0 and '"a": "hi"' in out, err

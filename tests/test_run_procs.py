"""Batches spread over worker processes (pfgit.run.procpool): the recorded run is the one a
single process records (outputs in line order, inputs, errors naming the node, aggregation and
token metrics), Ctrl-C leaves a resumable run, and a worker process that dies fails the lines it
was running (those queued to it run elsewhere) instead of hanging the run."""

from __future__ import annotations

import json

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit.run import procpool
from pfgit.run.batch import run_batch
from pfgit.run.spec import RunSpec
from run_flows import BASIC, make_repo, write_flow, write_jsonl
from test_run_batch import COUNTED, Quiet, read_run
from test_run_llm import ROWS, llm_repo  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not procpool.available(), reason="worker processes need fork (Linux)")


def _recorded(repo, name):
    snap, outs, ins, logs = read_run(repo, name)
    errors = [json.loads(x) for x in (logs.get("errors.jsonl") or b"").splitlines()]
    return outs, ins, errors


def test_llm_run_over_two_processes_records_what_one_process_records(llm_repo, fake_openai):  # noqa: F811
    rows = [dict(r, question=f"{r['question']} #{i}") for i in range(8) for r in ROWS]
    write_jsonl(llm_repo / "many.jsonl", rows)
    one = run_batch(RunSpec(flow="flows/chat", data="many.jsonl", name="one", workers=4, processes=1), Quiet())
    two = run_batch(RunSpec(flow="flows/chat", data="many.jsonl", name="two", workers=4, processes=2), Quiet())
    assert (two.status, two.total, two.failed) == ("Completed", 24, 0), two.first_error
    assert two.metrics == one.metrics and two.metrics["__pfgit__.tokens.total"] > 0
    outs, ins, _ = _recorded(llm_repo, "two")
    assert (outs, ins) == _recorded(llm_repo, "one")[:2]
    assert [o["line_number"] for o in outs] == list(range(24))
    assert len(fake_openai.bodies("chat/completions")) == 2 * 2 * 24   # two chat nodes, two runs


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/basic": BASIC})
    rows = [{"text": "boom" if i % 5 == 1 else f"w{i}"} for i in range(20)]
    write_jsonl(r / "data.jsonl", rows)
    monkeypatch.chdir(r)
    return r


def test_errors_and_aggregation_same_as_one_process(repo):
    one = run_batch(RunSpec(flow="flows/basic", data="data.jsonl", name="one", workers=3, processes=1), Quiet())
    two = run_batch(RunSpec(flow="flows/basic", data="data.jsonl", name="two", workers=3, processes=2), Quiet())
    assert (two.status, two.total, two.failed) == ("Failed", 20, 4)
    assert two.metrics == one.metrics   # first_error: whichever failed line finished first, either way
    assert _recorded(repo, "two") == _recorded(repo, "one")
    errors = _recorded(repo, "two")[2]
    assert [e["line_number"] for e in errors] == [1, 6, 11, 16]
    assert errors[0] == {"line_number": 1, "type": "ValueError", "node": "upper",
                         "message": "Execution failure in 'upper': (ValueError) boom!"}


def test_interrupted_run_over_processes_resumes(repo, monkeypatch, tmp_path):
    write_flow(repo / "flows/counted", COUNTED)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "calls.txt"))
    write_jsonl(repo / "many.jsonl", [{"text": f"w{i}"} for i in range(30)])
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "10")
    o = run_batch(RunSpec(flow="flows/counted", data="many.jsonl", name="big", workers=4, processes=2), Quiet())
    assert (o.status, o.done) == ("Canceled", 10)
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    o2 = run_batch(RunSpec(flow=".", resume="big"), Quiet())   # resumes with the saved --processes 2
    assert (o2.status, o2.total, o2.failed) == ("Completed", 30, 0)
    assert o2.metrics["n_lines"] == 30
    outs, ins, _ = _recorded(repo, "big")
    assert [x["line_number"] for x in outs] == list(range(30)) and len(ins) == 30
    assert [x["o"] for x in outs] == [f"w{i}" for i in range(30)]


DIES = {
    "flow.dag.yaml": "inputs:\n  text: {type: string}\noutputs:\n  o: {type: string, reference: '${f.output}'}\n"
                     "nodes:\n- name: f\n  type: python\n  source: {type: code, path: f.py}\n"
                     "  inputs: {text: '${inputs.text}'}\n",
    "f.py": "import os\nimport time\nfrom promptflow.core import tool\n\n\n@tool\ndef f(text: str) -> str:\n"
            "    if text == 'die':\n        time.sleep(0.2)\n        os._exit(3)\n    return text\n",
}


def test_a_worker_process_that_dies_fails_its_lines_not_the_run(repo):
    write_flow(repo / "flows/dies", DIES)
    write_jsonl(repo / "d.jsonl", [{"text": "die" if i == 3 else f"w{i}"} for i in range(12)])
    o = run_batch(RunSpec(flow="flows/dies", data="d.jsonl", name="d", workers=2, processes=2), Quiet())
    outs, ins, errors = _recorded(repo, "d")
    assert o.status == "Failed" and len(ins) == 12 and len(outs) + len(errors) == 12
    # only the line it was running: the lines queued behind it run in the other process
    assert [(e["line_number"], e["type"]) for e in errors] == [(3, "WorkerProcessExited")]
    assert all(o_["o"] == f"w{o_['line_number']}" for o_ in outs)


def test_resumed_run_counts_the_tokens_of_the_lines_before_the_interruption(llm_repo, monkeypatch):  # noqa: F811
    rows = [dict(r, question=f"{r['question']} #{i}") for i in range(3) for r in ROWS]
    write_jsonl(llm_repo / "nine.jsonl", rows)
    full = run_batch(RunSpec(flow="flows/chat", data="nine.jsonl", name="full", workers=1), Quiet())
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "4")
    assert run_batch(RunSpec(flow="flows/chat", data="nine.jsonl", name="cut", workers=1), Quiet()).status == "Canceled"
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    resumed = run_batch(RunSpec(flow=".", resume="cut"), Quiet())
    assert resumed.status == "Completed" and resumed.metrics == full.metrics


def test_default_processes():
    from types import SimpleNamespace

    from pfgit.run.batch import _processes

    class Llm:
        uses_llm = True
        splits_over_processes = True

    class Flex:
        uses_llm = True

    quiet = Quiet()
    auto = SimpleNamespace(processes=None)
    assert _processes(auto, Llm(), 16, 100, quiet) == 1              # a small run: one process
    assert _processes(auto, Llm(), 4, 10_000, quiet) == 1            # few lines in flight: one
    assert _processes(auto, Flex(), 16, 10_000, quiet) == 1          # flex: one instance
    assert 1 <= _processes(auto, Llm(), 16, 1000, quiet) <= 2
    assert _processes(SimpleNamespace(processes=3), Llm(), 16, 10, quiet) == 3
    assert _processes(SimpleNamespace(processes=3), Flex(), 16, 10, quiet) == 1 and quiet.lines


def test_a_line_waiting_behind_a_timed_out_line_is_not_timed_out(repo):
    """Children queue lines beyond their threads; the line timeout counts from when a queued line
    starts, not from when it was sent (with one thread per child, line 3 waits behind line 1)."""
    write_flow(repo / "flows/slow", dict(BASIC, **{"upper.py": (
        "import time\nfrom promptflow.core import tool\n\n\n@tool\ndef upper(s: str) -> str:\n"
        "    if s == 'boom':\n        time.sleep(1.5)\n    return s.upper()\n")}))
    write_jsonl(repo / "six.jsonl", [{"text": t} for t in ("a", "boom", "c", "d", "e", "f")])
    o = run_batch(RunSpec(flow="flows/slow", data="six.jsonl", name="to", workers=2, processes=2,
                          line_timeout=0.7), Quiet())
    assert (o.status, o.failed) == ("Failed", 1), o.first_error
    assert o.first_error["line_number"] == 1 and o.first_error["type"] == "LineExecutionTimeoutError"
    outs, _, errors = _recorded(repo, "to")
    assert [x["line_number"] for x in outs] == [0, 2, 3, 4, 5] and len(errors) == 1


_LOOKED_UP: list = []   # the connection names a child's tools looked up (each fork has its copy)


def _lookup_job(name):
    if name and name not in _LOOKED_UP:
        _LOOKED_UP.append(name)
    return procpool.LineError("done", "Done")


def test_children_report_the_connections_their_tools_looked_up():
    """What the parent masks in the snapshot: names a child saw (once each), none it knew before."""
    _LOOKED_UP[:] = ["before_fork"]
    got: list = []
    pool = procpool.ProcessLinePool(_lookup_job, 2, 2, looked_up=lambda: list(_LOOKED_UP),
                                    on_connections=got.extend)
    try:
        futs = [pool.submit(n) for n in ("a", None, "b", "a", "c", None)]
        assert all(f.result(timeout=30).kind == "Done" for f in futs)
    finally:
        pool.shutdown()
    assert set(got) == {"a", "b", "c"} and len(got) <= 6 and "before_fork" not in got
    assert all(got.count(n) <= 2 for n in got)    # at most once per child


def test_a_resumed_run_masks_connections_looked_up_before_the_interruption(repo, monkeypatch, tmp_path):
    """Lines written before an interruption may hold the secret of a connection a tool looked up
    itself (stood in for here: the engine reports it); the resumed start looks nothing up, yet
    the snapshot masks it: the names (never the secrets) are kept in the run's state."""
    from pfgit.run.connections import ConnectionStore, from_mapping
    from pfgit.run.engine.dag import DagEngine

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    ConnectionStore().save(from_mapping({"name": "c1", "type": "custom", "secrets": {"token": "sekret-c1-77"}}))
    write_flow(repo / "flows/counted", COUNTED)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "calls.txt"))
    write_jsonl(repo / "many.jsonl", [{"text": f"w{i} sekret-c1-77"} for i in range(8)])
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "3")
    looked_up = DagEngine.connections_looked_up
    monkeypatch.setattr(DagEngine, "connections_looked_up", lambda self: ["c1"])
    o = run_batch(RunSpec(flow="flows/counted", data="many.jsonl", name="big", workers=2, processes=2), Quiet())
    assert o.status == "Canceled"
    monkeypatch.setattr(DagEngine, "connections_looked_up", looked_up)
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    assert run_batch(RunSpec(flow=".", resume="big"), Quiet()).status == "Completed"
    outs, ins, _ = _recorded(repo, "big")
    assert len(outs) == 8 and "sekret-c1-77" not in json.dumps(outs + ins)


def _slow_job(x):
    import time

    time.sleep(0.4)
    return procpool.LineError(x, "Done")


def test_sigterm_to_the_process_group_leaves_the_children_to_the_parent():
    """A cancelled CI job signals the whole group: the children inherited the run's SIGTERM
    handler (raise KeyboardInterrupt) and exited, failing their lines (WorkerProcessExited),
    which the parent recorded as done before its own interruption: lost to --resume."""
    import os
    import signal

    from pfgit.run.batch import _term_as_interrupt

    undo = _term_as_interrupt()
    try:
        pool = procpool.ProcessLinePool(_slow_job, 2, 2)
    finally:
        undo()
    try:
        futs = [pool.submit(str(i)) for i in range(4)]
        for c in pool.children:
            os.kill(c.pid, signal.SIGTERM)
        assert [f.result(timeout=30).kind for f in futs] == ["Done"] * 4
    finally:
        pool.shutdown()


def test_lines_left_when_every_worker_process_died_are_kept_for_resume(repo):
    """Both children die: the lines they were running fail (they ran), but the lines queued or
    still to come never ran; they were recorded as failed (WorkerProcessExited), so --resume
    skipped them as done. Now the run stops resumable, and --resume runs them."""
    write_flow(repo / "flows/dies", DIES)
    write_jsonl(repo / "d.jsonl", [{"text": "die" if i < 2 else f"w{i}"} for i in range(8)])
    o = run_batch(RunSpec(flow="flows/dies", data="d.jsonl", name="gone", workers=2, processes=2), Quiet())
    assert o.status == "Canceled" and o.done < 8
    o2 = run_batch(RunSpec(flow=".", resume="gone"), Quiet())
    assert (o2.status, o2.total, o2.failed) == ("Failed", 8, 2)
    outs, ins, errors = _recorded(repo, "gone")
    assert [e["line_number"] for e in errors] == [0, 1] and [x["line_number"] for x in outs] == list(range(2, 8))


def _marking_job(path, x):
    import time

    time.sleep(0.3)
    with open(path, "a") as f:
        f.write(x + "\n")
    return procpool.LineError(x, "Done")


def test_a_child_whose_parent_is_gone_runs_no_more_queued_lines(tmp_path):
    """A parent killed outright (SIGKILL after a CI grace period): its children, which ignore
    SIGINT and SIGTERM, ran every line queued to them before exiting (model calls nobody reads)."""
    import os

    marks = tmp_path / "ran.txt"
    pool = procpool.ProcessLinePool(_marking_job, 1, 1)
    child = pool.children[0]
    for i in range(5):
        pool.submit(str(marks), str(i))
    child.conn.close()            # what the child sees when its parent dies
    os.waitpid(child.pid, 0)
    # the running line, not the queue (or none: the EOF can cancel the queue before the child's
    # thread takes its first line)
    assert len(marks.read_text().split() if marks.exists() else []) <= 2


def test_the_run_signal_handler_does_nothing_in_a_forked_worker():
    """Between its fork and ignoring SIGINT/SIGTERM, a worker process still had the run's handler:
    a Ctrl-C then raised KeyboardInterrupt in the child, outside its loop, where it went on
    running the parent's code (saving the run's state, printing, exiting as the parent)."""
    import os
    import signal

    from pfgit.run.batch import _term_as_interrupt

    signals = _term_as_interrupt()
    try:
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                signals._handler(signal.SIGINT, None)
                code = 0
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        assert os.WEXITSTATUS(os.waitpid(pid, 0)[1]) == 0
    finally:
        signals()


def test_worker_threads_are_running_before_the_first_line():
    # started on demand, each start waited for the GIL held by the lines already running: the
    # first lines of a child began up to ~70 ms apart
    pool = procpool._started_pool(5)
    try:
        assert len(pool._threads) == 5 and all(t.is_alive() for t in pool._threads)
    finally:
        pool.shutdown()

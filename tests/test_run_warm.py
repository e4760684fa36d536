"""The warm process of `pfgit run` (pfgit.run.warm): it imports the openai SDK while the run's
process reads the flow, and forks the batch's workers. The run must be the same run with it,
without it (PFGIT_WARM=0) and when it is gone; and the start-up's paused garbage collector
(pfgit.gcpause) must come back on."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit import gcpause
from pfgit.run import procpool, warm
from run_flows import write_flow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(not warm.enabled() or os.environ.get("PFGIT_WARM") == "0",
                                reason="the warm process needs fork and socket.send_fds (Linux)")

# an llm node, and a python node telling which process ran the line and what it printed
FLOW = {
    "flow.dag.yaml": """\
inputs:
  text: {type: string}
outputs:
  answer: {type: string, reference: "${chat.output}"}
  who: {type: object, reference: "${who.output}"}
nodes:
- name: chat
  type: llm
  source: {type: code, path: chat.jinja2}
  connection: fake
  api: chat
  inputs: {model: gpt-3.5-turbo, text: "${inputs.text}"}
- name: who
  type: python
  source: {type: code, path: who.py}
  inputs: {answer: "${chat.output}"}
""",
    "chat.jinja2": "system:\nYou are terse.\nuser:\n{{text}}\n",
    "who.py": """\
import os
from promptflow.core import tool

print("who.py imported")   # said once, on stderr with --json: never into the JSON on stdout


@tool
def who(answer: str) -> dict:
    with open(f"/proc/{os.getppid()}/stat") as f:
        grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
    print(f"line ran in {os.getpid()}")
    return {"pid": os.getpid(), "ppid": os.getppid(), "gppid": grandparent, "cwd": os.path.basename(os.getcwd()),
            "env": os.environ.get("RUN_VAR")}
""",
}


def _repo(tmp_path, server, rows=4):
    repo = tmp_path / "repo"
    write_flow(repo / "flow", FLOW)
    (repo / "data.jsonl").write_text("".join(json.dumps({"text": f"q{i}"}) + "\n" for i in range(rows)))
    env = dict(os.environ, PYTHONPATH=ROOT, XDG_CONFIG_HOME=str(tmp_path / "cfg"), CI="1")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "flow"]):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True)
    conn = tmp_path / "conn.yaml"
    conn.write_text(f"name: fake\ntype: open_ai\napi_key: sk-warm-123456\nbase_url: {server.url}\n")
    subprocess.run([sys.executable, "-m", "pfgit", "connection", "create", "--file", str(conn)], env=env,
                   check=True, capture_output=True)
    return repo, env


def _run(repo, env, name, *extra, **env_extra):
    p = subprocess.Popen([sys.executable, "-m", "pfgit", "run", "--flow", "flow", "--data", "data.jsonl",
                          "--name", name, "--json", "--environment-variables", "RUN_VAR=set", *extra],
                         cwd=repo, env=dict(env, **env_extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return p.pid, json.loads(out), err


def _outputs(repo, name) -> list:
    text = subprocess.run(["git", "show", f"refs/pfgit/runs/{name}:outputs.jsonl"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines()]


def _log(repo, name) -> str:
    return subprocess.run(["git", "show", f"refs/pfgit/runs/{name}:logs/stdout.log"], cwd=repo,
                          capture_output=True, text=True).stdout


def test_lines_run_in_workers_the_warm_process_forked_and_the_run_is_the_same(tmp_path, fake_openai):  # noqa: F811
    repo, env = _repo(tmp_path, fake_openai)
    pid, res, _ = _run(repo, env, "warm")
    outs = _outputs(repo, "warm")
    assert res["status"] == "Completed" and len(outs) == 4
    for o in outs:   # a worker whose parent (the warm process) is a child of the run's process
        assert o["who"]["gppid"] == pid and o["who"]["ppid"] != pid
        assert o["who"]["cwd"] == "flow" and o["who"]["env"] == "set"   # the run's environment
    assert "line ran in" in _log(repo, "warm")   # what tools print still reaches stdout.log

    pid0, res0, _ = _run(repo, env, "cold", PFGIT_WARM="0")
    outs0 = _outputs(repo, "cold")
    assert all(o["who"]["pid"] == pid0 for o in outs0)   # a small run: threads of the run's process
    strip = lambda rows: [{k: v for k, v in o.items() if k != "who"} for o in rows]  # noqa: E731
    assert strip(outs0) == strip(outs) and res0["metrics"] == res["metrics"]
    assert [o["who"]["env"] for o in outs0] == ["set"] * 4


def test_stream_shows_what_warm_workers_print(tmp_path, fake_openai):  # noqa: F811
    repo, env = _repo(tmp_path, fake_openai, rows=2)
    _, res, err = _run(repo, env, "s1", "--stream")
    assert res["status"] == "Completed"
    assert err.count("line ran in") == 2   # --json: the stream goes to stderr
    assert err.count("who.py imported") == 1


def test_a_warm_process_that_is_gone_leaves_the_run_to_its_own_process(tmp_path, fake_openai):  # noqa: F811
    repo, env = _repo(tmp_path, fake_openai)
    pid, res, _ = _run(repo, env, "gone", PFGIT_WARM_TEST_EXIT="1")
    assert res["status"] == "Completed"
    assert all(o["who"]["pid"] == pid for o in _outputs(repo, "gone"))


def test_an_option_that_changes_the_engine_is_honoured(tmp_path, fake_openai):  # noqa: F811
    """The warm process built the engine of a plain `--flow` run while it waited; a run asking
    for another (here other connection settings) gets an engine built for its own spec."""
    repo, env = _repo(tmp_path, fake_openai, rows=1)
    _run(repo, env, "m1", "--connections", "chat.model=gpt-4o-mini")
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-4o-mini"


def test_which_runs_start_a_warm_process(tmp_path):
    llm = write_flow(tmp_path / "llm", FLOW)
    py = write_flow(tmp_path / "py", {"flow.dag.yaml": "inputs: {}\noutputs: {}\nnodes:\n- name: a\n  type: python\n"
                                                       "  source: {type: code, path: a.py}\n"})
    (tmp_path / "p.prompty").write_text("---\nname: p\n---\nuser:\nhi\n")
    assert warm.likely_llm(str(llm)) and warm.likely_llm(str(llm / "flow.dag.yaml"))
    assert warm.likely_llm(str(tmp_path / "p.prompty"))
    assert not warm.likely_llm(str(py)) and not warm.likely_llm(str(tmp_path / "nowhere"))
    assert warm.option_value(["run", "--flow", "f", "--data", "d"], "--flow") == "f"
    assert warm.option_value(["run", "--flow=f"], "--flow") == "f"
    assert warm.option_value(["run", "--data", "d"], "--flow") is None


def test_same_engine_compares_what_builds_the_engine():
    from pfgit.run.spec import RunSpec

    a = RunSpec(flow="/r/flow")
    assert warm._same_engine(a, RunSpec(flow="/r/flow", name="x", data="/r/d.jsonl", workers=3))
    assert not warm._same_engine(a, RunSpec(flow="/r/flow", variant="${chat.variant_1}"))
    assert not warm._same_engine(a, RunSpec(flow="/r/flow", connections={"chat": {"model": "m"}}))
    assert not warm._same_engine(a, RunSpec(flow="/r/other"))


def test_startup_pause_turns_collection_back_on_and_freezes_on_request():
    was = gc.isenabled()
    try:
        gc.enable()
        gcpause.pause_startup()
        assert not gc.isenabled()
        before = gc.get_freeze_count()
        gcpause.end_startup(freeze=True)
        assert gc.isenabled() and gc.get_freeze_count() > before
        gcpause.end_startup()            # once only
        gc.disable()
        gcpause.end_startup()            # a caller's own setting is left alone
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_worker_threads_are_running_before_the_first_line():
    pool = procpool._started_pool(5)
    try:
        assert len(pool._threads) == 5 and all(t.is_alive() for t in pool._threads)
    finally:
        pool.shutdown()


def test_no_warm_process_where_it_would_not_be_used(tmp_path, monkeypatch):
    llm = str(write_flow(tmp_path / "llm", FLOW))
    py = str(write_flow(tmp_path / "py", {"flow.dag.yaml": "inputs: {}\noutputs: {}\nnodes: []\n"}))

    def no_fork():
        raise AssertionError("forked a warm process")

    monkeypatch.setattr(os, "fork", no_fork)
    for argv in (["run", "--flow", llm, "--llm-mode", "replay"], ["run", "--flow", llm, "--engine", "promptflow"],
                 ["run", "--flow", llm, "--resume", "r1"], ["test", "--flow", llm], ["run", "--flow", py],
                 ["run", "--file", "run.yml"]):
        warm.maybe_start(argv)
    assert warm.current() is None


def test_a_warm_process_that_does_not_answer_is_given_up(monkeypatch):
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    silent = subprocess.Popen(["sleep", "60"])
    monkeypatch.setattr(warm, "_REPLY_TIMEOUT", 0.3)
    monkeypatch.setattr(warm, "_warm", warm._Warm(silent.pid, ours))
    try:
        assert warm.current().spawn({"spec": None}, [2]) is None   # this process runs the lines
        assert warm.current() is None
        with pytest.raises(ProcessLookupError):   # and the silent one was killed and reaped
            os.kill(silent.pid, 0)
    finally:
        theirs.close()
        silent.kill()

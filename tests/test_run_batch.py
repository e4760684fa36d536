"""Batch and evaluation runs end to end (library + CLI): recording, failed lines, eval joins,
resume after an interrupt, bad input, pf's multi-value options, run files."""

from __future__ import annotations

import json
import os

import pytest

from pfgit.cli.main import main
from pfgit.run.argv import expand_multi
from pfgit.run.batch import run_batch
from pfgit.run.errors import RunError
from pfgit.run.spec import RunSpec
from run_flows import BASIC, EVAL, files_under, git, make_repo, quiet_console, write_jsonl


def Quiet():
    return quiet_console()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/basic": BASIC, "flows/eval": EVAL})
    write_jsonl(r / "data.jsonl", [{"text": "a", "expected": "A"}, {"text": "boom", "expected": "X"},
                                   {"text": "bc", "expected": "cb"}])
    monkeypatch.chdir(r)
    return r


def run(spec, console=None):
    return run_batch(spec, console or Quiet())


def read_run(repo, name):
    from pfgit.git.repo import open_repo
    from pfgit.store.read import load_run, logs, stream_file

    r = open_repo(str(repo))
    snap = load_run(r, name)
    outs = [json.loads(x) for x in stream_file(r, snap, "outputs.jsonl")]
    ins = [json.loads(x) for x in stream_file(r, snap, "inputs.jsonl")]
    return snap, outs, ins, logs(r, snap)


def test_batch_run_recorded_with_failed_lines(repo):
    before = files_under(repo / "flows")
    o = run(RunSpec(flow="flows/basic", data="data.jsonl", name="b1"))
    assert (o.status, o.total, o.failed, o.exit_code) == ("Failed", 3, 1, 1)
    assert o.metrics == {"total_len": 8, "n_lines": 2, "texts": "a,bc"}   # aggregation: succeeded lines
    snap, outs, ins, logs = read_run(repo, "b1")
    assert outs == [{"shout": "A", "joined": "A A", "line_number": 0},
                    {"shout": "BC", "joined": "BC BC", "line_number": 2}]
    assert [i["line_number"] for i in ins] == [0, 1, 2] and ins[0]["n"] == 2
    err = json.loads(logs["errors.jsonl"])
    assert err == {"line_number": 1, "type": "ValueError", "node": "upper",
                   "message": "Execution failure in 'upper': (ValueError) boom!"}
    assert snap.run["status"] == "Failed" and snap.run["lines"] == {"total": 3, "completed": 2, "failed": 1}
    assert snap.parents[0] == git(repo, "rev-parse", "HEAD")
    assert files_under(repo / "flows") == before
    assert not os.path.exists(repo / ".git" / "pfgit" / "active" / "b1")


def test_eval_run_over_base_keeps_failed_base_lines(repo):
    run(RunSpec(flow="flows/basic", data="data.jsonl", name="base"))
    c = Quiet()
    o = run(RunSpec(flow="flows/eval", data="data.jsonl", run="base", name="ev",
                    column_mapping={"prediction": "${run.outputs.shout}", "groundtruth": "${data.expected}"}), c)
    assert (o.total, o.failed) == (3, 1)
    assert o.metrics == {"accuracy": 0.5, "graded": 2}
    snap, outs, _, logs = read_run(repo, "ev")
    assert [(x["line_number"], x["grade"]) for x in outs] == [(0, "Correct"), (2, "Incorrect")]
    assert json.loads(logs["errors.jsonl"])["type"] == "BaseRunLineFailed"
    assert snap.run["base_run"]["name"] == "base" and len(snap.parents) == 2
    assert any("promptflow drops them silently" in n for n in c.lines)
    rc = main(["log", "flows/eval", "--metric", "accuracy", "--json"])
    assert rc == 0


def test_eval_run_errors(repo):
    run(RunSpec(flow="flows/basic", data="data.jsonl", name="base"))
    write_jsonl(repo / "two.jsonl", [{"expected": "A"}, {"expected": "B"}])
    with pytest.raises(RunError, match="base run 'base' has 3 lines but the data has 2"):
        run(RunSpec(flow="flows/eval", data="two.jsonl", run="base",
                    column_mapping={"prediction": "${run.outputs.shout}", "groundtruth": "${data.expected}"}))
    with pytest.raises(RunError, match=r"no column 'nope' in the base run's outputs \(columns: joined, line_number, shout\)"):
        run(RunSpec(flow="flows/eval", data="data.jsonl", run="base",
                    column_mapping={"prediction": "${run.outputs.nope}", "groundtruth": "${data.expected}"}))
    with pytest.raises(RunError, match="base run 'ghost' not found"):
        run(RunSpec(flow="flows/eval", data="data.jsonl", run="ghost"))


COUNTED = {
    "flow.dag.yaml": "inputs:\n  text: {type: string}\noutputs:\n  o: {type: string, reference: '${mark.output}'}\n"
                     "nodes:\n- name: mark\n  type: python\n  source: {type: code, path: mark.py}\n"
                     "  inputs: {text: '${inputs.text}'}\n- name: agg\n  type: python\n"
                     "  source: {type: code, path: agg.py}\n  inputs: {items: '${mark.output}'}\n  aggregation: true\n",
    "mark.py": "import os\nfrom promptflow.core import tool\n\n\n@tool\ndef mark(text: str) -> str:\n"
               "    with open(os.environ['COUNT_FILE'], 'a') as f:\n        f.write(text + '\\n')\n    return text\n",
    "agg.py": "from promptflow.core import log_metric, tool\n\n\n@tool\ndef agg(items: list):\n"
              "    log_metric('n_lines', len(items))\n",
}


def test_resume_after_interrupt_runs_only_missing_lines(repo, monkeypatch, tmp_path):
    from run_flows import write_flow

    write_flow(repo / "flows/counted", COUNTED)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("COUNT_FILE", str(calls))
    write_jsonl(repo / "many.jsonl", [{"text": f"w{i}"} for i in range(30)])
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "10")
    o = run(RunSpec(flow="flows/counted", data="many.jsonl", name="big", workers=1))
    assert o.status == "Canceled"
    active = repo / ".git" / "pfgit" / "active" / "big"
    assert len((active / "outputs.jsonl").read_text().splitlines()) == 10
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    o2 = run(RunSpec(flow=".", resume="big", workers=3))
    assert (o2.status, o2.total, o2.failed) == ("Completed", 30, 0)
    assert o2.metrics["n_lines"] == 30
    assert sorted(calls.read_text().split()) == sorted(f"w{i}" for i in range(30))   # each line ran once
    _, outs, ins, _ = read_run(repo, "big")
    assert [x["line_number"] for x in outs] == list(range(30)) and len(ins) == 30
    assert not active.exists()
    with pytest.raises(RunError, match="no interrupted run 'big'"):
        run(RunSpec(flow=".", resume="big"))


def test_bad_input_messages(repo, tmp_path):
    (repo / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(RunError) as e:
        run(RunSpec(flow="flows/basic", data="bad.jsonl"))
    assert e.value.line == 2 and e.value.file.endswith("bad.jsonl")
    with pytest.raises(RunError, match=r"missing data column for flow input 'text' \(data columns: other"):
        write_jsonl(repo / "other.jsonl", [{"other": 1}])
        run(RunSpec(flow="flows/basic", data="other.jsonl"))
    with pytest.raises(RunError, match=r"no column 'nope' in the data"):
        run(RunSpec(flow="flows/basic", data="data.jsonl", column_mapping={"text": "${data.nope}"}))
    with pytest.raises(RunError, match="unknown variant|not found in node_variants"):
        run(RunSpec(flow="flows/basic", data="data.jsonl", variant="${upper.v1}"))


def test_csv_with_bom_and_literal_mapping(repo):
    (repo / "d.csv").write_bytes("\ufefftext,n\nhey,3\n".encode("utf-8"))
    o = run(RunSpec(flow="flows/basic", data="d.csv", name="csv"))
    assert o.status == "Completed"
    _, outs, ins, _ = read_run(repo, "csv")
    assert outs[0]["joined"] == "HEY HEY HEY" and ins[0]["text"] == "hey"


def test_cli_run_multi_value_options_and_json(repo, capsys):
    rc = main(["run", "--flow", "flows/basic", "--data", "data.jsonl", "--name", "c1",
               "--column-mapping", "text=${data.text}", "n=1", "--tags", "a=1", "b=2", "--json"])
    assert rc == 1                                      # one line failed
    out = json.loads(capsys.readouterr().out)
    assert out["lines"] == {"total": 3, "completed": 2, "failed": 1} and out["status"] == "Failed"
    _, outs, _, _ = read_run(repo, "c1")
    assert outs[0]["joined"] == "A"                     # literal "1" -> int 1
    assert expand_multi(["run", "--column-mapping", "a=1", "b=2", "--name", "x", "--inputs", "--json"]) == \
        ["run", "--column-mapping", "a=1", "--column-mapping", "b=2", "--name", "x", "--inputs", "--json"]


def test_run_file_with_cloud_keys(repo, capsys):
    (repo / "run.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Run.schema.json\n"
        "flow: flows/basic\ndata: data.jsonl\nname: rf\ndisplay_name: from a file\n"
        "column_mapping:\n  text: ${data.expected}\nenvironment_variables:\n  FOO: bar\n"
        "resources:\n  instance_type: Standard_D2\n")
    rc = main(["run", "--file", "run.yml"])
    err = capsys.readouterr().err
    assert rc == 0 and "'resources' is cloud-only: ignored" in err
    snap, outs, _, _ = read_run(repo, "rf")
    assert outs[1]["shout"] == "X" and snap.run["settings"]["display_name"] == "from a file"
    assert snap.run["environment"] == ["FOO"]


def test_cli_test_and_errors(repo, capsys):
    assert main(["test", "--flow", "flows/basic", "--inputs", "text=hi", "n=2"]) == 0
    out = capsys.readouterr().out
    assert '"joined": "HI HI"' in out and "upper" in out
    assert main(["test", "--flow", "flows/basic", "--inputs", "text=boom"]) == 1
    assert "Execution failure in 'upper'" in capsys.readouterr().err
    assert main(["run", "--flow", "flows/basic", "--data", "missing.jsonl"]) == 2
    assert capsys.readouterr().err.strip() == "pfgit: missing.jsonl: data file not found"


def test_unknown_inputs_run_and_are_named_in_a_warning(repo, capsys):
    # pf ignores them without a word; pfgit runs the same and says which (and what the flow takes)
    assert main(["test", "--flow", "flows/basic", "--inputs", "text=hi", "txet=x", "n=2"]) == 0
    cap = capsys.readouterr()
    assert '"joined": "HI HI"' in cap.out
    assert cap.err == ("pfgit: warning: input 'txet' is not an input of the flow (did you mean "
                       "text?), ignored (inputs: text, n)\n")
    assert main(["test", "--flow", "flows/basic", "--inputs", "text=hi", "n=2"]) == 0
    assert capsys.readouterr().err == ""
    con = Quiet()
    o = run(RunSpec(flow="flows/basic", data="data.jsonl", name="um",
                    column_mapping={"text": "${data.text}", "y": "${data.expected}"}), con)
    assert o.total == 3
    assert ("column mapping of input 'y' is not an input of the flow, ignored (inputs: text, n)"
            in con.lines)


def test_runs_stream_follows_a_run_in_progress(repo, monkeypatch, capsysbinary):
    """An interrupted run is 'in progress' on disk: stream prints what it has, then the resumed
    and recorded run streams from its snapshot."""
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "2")
    run(RunSpec(flow="flows/basic", data="data.jsonl", name="s1", workers=1))
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    assert main(["runs", "stream", "s1"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert [json.loads(x)["line_number"] for x in lines] == [0]      # line 1 failed: not an output
    from pfgit.git.repo import open_repo
    from pfgit.run.follow import follow
    from pfgit.run.runstate import ActiveRun
    import io
    import threading

    r = open_repo(str(repo))
    ActiveRun(r, "s1").update_state(status="Running")
    buf = io.BytesIO()
    t = threading.Thread(target=follow, args=(r, "s1", buf), kwargs={"poll": 0.01})
    t.start()
    run(RunSpec(flow=".", resume="s1", workers=1))     # finishes and records: follow ends
    t.join(10)
    assert not t.is_alive()
    assert [json.loads(x)["line_number"] for x in buf.getvalue().splitlines()] == [0, 2]
    assert main(["runs", "stream", "s1"]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 2


def test_runs_stream_of_a_run_whose_process_died_ends(repo, capsys):
    # a crashed or killed `pfgit run` leaves its state Running: stream waited on it for ever
    import io
    import subprocess
    import sys

    from pfgit.git.repo import open_repo
    from pfgit.run.follow import follow
    from pfgit.run.runstate import ActiveRun

    active = ActiveRun(open_repo(str(repo)), "dead")
    active.create(RunSpec(flow="flows/basic"), {})
    active.open()
    active.append("outputs", {"shout": "A", "line_number": 0})
    active.close()
    assert active.running()                          # this process: alive
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    st = active.state()
    st["pid"] = gone.pid
    with open(os.path.join(active.dir, "state.json"), "w") as f:
        json.dump(st, f)
    assert not active.running()
    buf = io.BytesIO()
    assert follow(open_repo(str(repo)), "dead", buf, poll=0.01, timeout=5)
    assert buf.getvalue() == b'{"shout": "A", "line_number": 0}\n'
    assert capsys.readouterr().err == ("pfgit: run 'dead' stopped without finishing (its process is "
                                       "gone): finish it with pfgit run --resume dead\n")


def test_auto_engine_names_the_node_that_needs_promptflow(repo, monkeypatch):
    from pfgit.run.engine import select

    (repo / "flows/pkg").mkdir()
    (repo / "flows/pkg/flow.dag.yaml").write_text(
        "inputs:\n  text: {type: string}\noutputs:\n  o: {type: string, reference: '${lookup.output}'}\n"
        "nodes:\n- name: lookup\n  type: python\n  source:\n    type: package\n"
        "    tool: promptflow_vectordb.tool.common_index_lookup.search\n  inputs:\n    queries: ${inputs.text}\n")
    monkeypatch.setattr(select, "promptflow_installed", lambda: False)
    with pytest.raises(RunError) as e:
        run(RunSpec(flow="flows/pkg", data="data.jsonl"))
    msg = e.value.one_line()
    assert "node 'lookup' needs the promptflow engine: package tool " \
           "'promptflow_vectordb.tool.common_index_lookup.search'" in msg
    assert "pip install promptflow" in msg and e.value.line == 6
    with pytest.raises(RunError, match="--engine builtin cannot run it"):
        run(RunSpec(flow="flows/pkg", data="data.jsonl", engine="builtin"))


def test_flex_class_batch_with_init_and_aggregate(repo, capsys):
    from run_flows import FLEX_CLASS, write_flow

    write_flow(repo / "flows/counter", FLEX_CLASS)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "flex")
    write_jsonl(repo / "words.jsonl", [{"word": "ab"}, {"word": "cde"}])
    rc = main(["run", "--flow", "flows/counter", "--data", "words.jsonl", "--name", "fx", "--init", "prefix=P:"])
    assert rc == 0, capsys.readouterr().err
    snap, outs, _, _ = read_run(repo, "fx")
    assert outs == [{"tagged": "P:ab", "len": 2, "line_number": 0}, {"tagged": "P:cde", "len": 3, "line_number": 1}]
    assert snap.metrics == {"n": 2, "total_len": 5}


def test_aggregation_failure_fails_the_run_but_records_it(repo):
    from run_flows import write_flow

    write_flow(repo / "flows/badagg", dict(BASIC, **{"agg.py": (
        "from promptflow.core import tool\n\n\n@tool\ndef agg(items: list, texts: list):\n"
        "    raise RuntimeError('no metrics today')\n")}))
    o = run(RunSpec(flow="flows/badagg", data="data.jsonl", name="ba", column_mapping={"text": "${data.expected}"}))
    assert (o.status, o.failed, o.exit_code) == ("Failed", 0, 1)
    assert o.aggregation_error["node"] == "agg" and "no metrics today" in o.aggregation_error["message"]
    snap, outs, _, _ = read_run(repo, "ba")
    assert len(outs) == 3 and snap.run["settings"]["aggregation_error"]["node"] == "agg"


def test_connection_overrides_and_cli_parsing():
    from pfgit.cli.cmd_run import _connections
    from pfgit.run.engine.plan import apply_connection_overrides

    ov = _connections(["chat.connection=other", "chat.deployment_name=gpt-x", "tool.conn=c2"])
    bodies = {"chat": {"type": "llm", "connection": "c1", "inputs": {"q": "${inputs.q}"}},
              "tool": {"type": "python", "inputs": {"conn": "c1"}}}
    apply_connection_overrides(bodies, ov)
    assert bodies["chat"]["connection"] == "other" and bodies["chat"]["inputs"]["deployment_name"] == "gpt-x"
    assert bodies["tool"]["inputs"]["conn"] == "c2"
    with pytest.raises(RunError, match="unsupported connection override 'chat.temperature'"):
        apply_connection_overrides(bodies, {"chat": {"temperature": "1"}})
    with pytest.raises(RunError, match="NODE.FIELD=VALUE"):
        _connections(["chat=x"])


def test_a_line_over_the_timeout_fails_alone(repo):
    from run_flows import write_flow

    write_flow(repo / "flows/slow", dict(BASIC, **{"upper.py": (
        "import time\nfrom promptflow.core import tool\n\n\n@tool\ndef upper(s: str) -> str:\n"
        "    if s == 'boom':\n        time.sleep(3)\n    return s.upper()\n")}))
    o = run(RunSpec(flow="flows/slow", data="data.jsonl", name="to", workers=2, line_timeout=0.5))
    assert (o.status, o.failed) == ("Failed", 1)
    assert o.first_error == {"line_number": 1, "type": "LineExecutionTimeoutError", "node": None,
                             "message": "Line 1 execution timeout for exceeding 0.5 seconds"}
    assert o.metrics["n_lines"] == 2


WAITING = {
    "flow.dag.yaml": """\
inputs:
  sig: {type: string}
outputs:
  v: {type: string, reference: "${wait.output}"}
nodes:
- name: wait
  type: python
  source: {type: code, path: wait.py}
  inputs: {sig: "${inputs.sig}"}
""",
    "wait.py": """\
import os
import time

from promptflow.core import tool


@tool
def wait(sig: str) -> str:
    open(os.path.join(sig, "started"), "w").close()
    for _ in range(2000):               # until the test has edited this file
        if os.path.exists(os.path.join(sig, "go")):
            return "v1"
        time.sleep(0.005)
    raise TimeoutError("never released")
""",
}


def test_snapshot_holds_the_flow_as_it_ran(repo, tmp_path):
    import threading

    from pfgit.git.repo import open_repo
    from run_flows import write_flow

    flow = write_flow(repo / "flows/waiting", WAITING)
    sig = tmp_path / "sig"
    sig.mkdir()
    write_jsonl(repo / "one.jsonl", [{"sig": str(sig)}])
    done = {}
    t = threading.Thread(target=lambda: done.update(o=run(RunSpec(flow="flows/waiting", data="one.jsonl",
                                                                  name="edited", workers=1))))
    t.start()
    for _ in range(2000):
        if (sig / "started").exists():
            break
        t.join(0.005)
    old = (flow / "wait.py").read_bytes()
    (flow / "wait.py").write_text(old.decode().replace('"v1"', '"v2"'))   # edited mid-run
    (sig / "go").touch()
    t.join(20)
    assert done["o"].status == "Completed"
    snap, outs, _, _ = read_run(repo, "edited")
    assert outs == [{"v": "v1", "line_number": 0}]
    r = open_repo(str(repo))
    tree = r[snap.run["flow"]["tree"].encode()]
    assert r[tree[b"wait.py"][1]].data == old          # what ran, not what the file became
    assert snap.run["flow"]["dirty"]                   # the flow was never committed


def test_resume_refuses_a_flow_changed_since_the_start(repo, monkeypatch):
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "1")
    assert run(RunSpec(flow="flows/basic", data="data.jsonl", name="half", workers=1)).status == "Canceled"
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    (repo / "flows/basic/helper.py").write_text("def sep():\n    return '-'\n")
    with pytest.raises(RunError, match="the flow changed since run 'half' started"):
        run(RunSpec(flow=".", resume="half"))


def test_lone_surrogates_from_data_and_file_names_are_recorded_and_listed(repo, capsys):
    # a JSON "\udcff" escape in a data line, a data file name that is not UTF-8: the run executed,
    # then recording raised UnicodeEncodeError (internal error, run left 'Running', not listed)
    bad = os.fsdecode(b"d\xff.jsonl")
    (repo / bad).write_bytes(b'{"text": "a\\udcffb"}\n{"text": "ok"}\n')
    o = run(RunSpec(flow="flows/basic", data=bad, name="sur"))
    assert o.status == "Completed" and o.commit
    snap, outs, ins, _ = read_run(repo, "sur")
    assert ins[0]["text"] == "a\udcffb" and outs[1]["shout"] == "OK"
    assert snap.run["data"]["path"] == bad
    assert main(["runs", "list", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["sur"]
    assert main(["runs", "show", "sur"]) == 0 and "d\\udcff.jsonl" in capsys.readouterr().out


def test_a_signal_never_cuts_a_line_record_in_two(repo, monkeypatch, tmp_path):
    """SIGTERM (or Ctrl-C) raised between a line's outputs and aggregation records left a line
    --resume took as done without its aggregation inputs: the resumed run's aggregation counted
    one line too few, silently. The signal now waits for the line's records to be written."""
    import os
    import signal

    from pfgit.run.runstate import ActiveRun
    from run_flows import write_flow

    write_flow(repo / "flows/counted", COUNTED)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "calls.txt"))
    write_jsonl(repo / "six.jsonl", [{"text": f"w{i}"} for i in range(6)])
    real = ActiveRun.append

    def append(self, kind, obj):
        real(self, kind, obj)
        if kind == "outputs" and obj.get("line_number") == 2:
            os.kill(os.getpid(), signal.SIGTERM)     # handled at the next bytecode: right here

    monkeypatch.setattr(ActiveRun, "append", append)
    assert run(RunSpec(flow="flows/counted", data="six.jsonl", name="cut", workers=1)).status == "Canceled"
    monkeypatch.setattr(ActiveRun, "append", real)
    o = run(RunSpec(flow=".", resume="cut"))
    assert (o.status, o.metrics["n_lines"]) == ("Completed", 6)


def test_resume_refuses_options_it_would_drop(repo, capsys):
    """`--resume NAME` goes on with the interrupted run's own settings: a --data or --set given
    with it was silently dropped; now it is refused, naming them (exit 2)."""
    assert main(["run", "--resume", "gone", "--data", "data.jsonl", "--set", "display_name=x"]) == 2
    assert "--resume cannot be combined with --data, --set (the run's settings are the interrupted " \
           "run's)" in capsys.readouterr().err
    assert main(["run", "--resume", "gone", "--workers", "2", "--processes", "1", "--stream"]) == 2
    assert "no interrupted run 'gone'" in capsys.readouterr().err

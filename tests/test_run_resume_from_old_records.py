"""`pfgit run --resume-from NAME` of a run whose record lacks `settings.request` (imported from
promptflow, or recorded before pfgit kept it along with logs/aggregation.jsonl): resumed when the
flow needs nothing the record lacks — a DAG flow without LLM nodes whose run used no connection
(no init, no connection override could have changed a line) — else refused in one line, as
before."""

from __future__ import annotations

import json

from dulwich.objects import Blob, Commit
from dulwich.repo import Repo

from run_flows import git, make_repo, write_jsonl
from test_run_resume_from import FLAKY, calls, cli, outputs, run_json

PLAIN = {k: v for k, v in FLAKY.items() if k != "agg.py"}
PLAIN["flow.dag.yaml"] = FLAKY["flow.dag.yaml"].split("- name: agg")[0]
LLM = dict(PLAIN)
LLM["flow.dag.yaml"] = PLAIN["flow.dag.yaml"] + """- name: ask
  type: llm
  source: {type: code, path: ask.jinja2}
  inputs: {deployment_name: gpt, q: "${up.output}"}
  api: chat
"""
LLM["ask.jinja2"] = "user:\n{{q}}\n"


def strip_record(repo, name, imported=False, connections=None):
    """Rewrite run NAME's snapshot as an older pfgit (or `runs import`) left it: no
    settings.request, no logs/aggregation.jsonl; an import also records no environment."""
    r = Repo(str(repo))
    ref = f"refs/pfgit/runs/{name}".encode()
    commit = r[r.refs[ref]]
    tree = r[commit.tree]
    data = json.loads(r[tree[b"run.json"][1]].data)
    data["settings"].pop("request", None)
    if connections is not None:
        data["connections"] = connections
    if imported:
        data["source"] = {"tool": "promptflow", "run": name}
        data["environment"] = []
    blob = Blob.from_string(json.dumps(data).encode())
    r.object_store.add_object(blob)
    tree[b"run.json"] = (0o100644, blob.id)
    if b"logs" in tree:
        logs = r[tree[b"logs"][1]]
        if b"aggregation.jsonl" in logs:
            del logs[b"aggregation.jsonl"]
            r.object_store.add_object(logs)
            tree[b"logs"] = (0o040000, logs.id)
    r.object_store.add_object(tree)
    new = Commit()
    for k in ("parents", "author", "committer", "author_time", "commit_time", "author_timezone",
              "commit_timezone", "message"):
        setattr(new, k, getattr(commit, k))
    new.tree = tree.id
    r.object_store.add_object(new)
    r.refs[ref] = new.id


def _failed_run(tmp_path, monkeypatch, capsys, files):
    repo = make_repo(tmp_path, {"flows/f": files})
    write_jsonl(repo / "data.jsonl", [{"text": t} for t in "abc"])
    monkeypatch.chdir(repo)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("FAIL_FILE", str(tmp_path / "fail.txt"))
    (tmp_path / "fail.txt").write_text("b\n")
    return repo


def test_an_old_or_imported_record_of_a_plain_dag_flow_resumes(tmp_path, monkeypatch, capsys):
    repo = _failed_run(tmp_path, monkeypatch, capsys, PLAIN)
    assert cli(capsys, "run", "--flow", "flows/f", "--data", "data.jsonl", "--name", "r1", "--workers", "1")[0] == 1
    strip_record(repo, "r1")
    (tmp_path / "fail.txt").write_text("")
    rc, out, err = cli(capsys, "run", "--resume-from", "r1", "--name", "r2", "--workers", "1")
    assert rc == 0, err
    assert "2 succeeded line(s) copied, 1 to run" in err
    assert calls(repo) == ["a", "b", "c", "b"]        # only the failed line ran again
    assert [o["out"] for o in outputs(repo, "r2")] == ["A", "B", "C"]
    assert run_json(repo, "r2")["settings"]["resume_from"] == "r1"
    # an import: promptflow records no environment variables, so any given are used
    strip_record(repo, "r2", imported=True)
    (tmp_path / "fail.txt").write_text("a b c\n")
    rc, out, err = cli(capsys, "run", "--resume-from", "r2", "--name", "r3",
                       "--environment-variables", "SUFFIX=!")
    assert rc == 0 and "3 succeeded line(s) copied, 0 to run" in err, err


def test_a_record_that_lacks_what_its_flow_needs_is_still_refused(tmp_path, monkeypatch, capsys):
    from pfgit.run.resumefrom import _needs_request

    repo = _failed_run(tmp_path, monkeypatch, capsys, PLAIN)
    assert cli(capsys, "run", "--flow", "flows/f", "--data", "data.jsonl", "--name", "r1", "--workers", "1")[0] == 1
    strip_record(repo, "r1", connections={"up.conn": "my_conn"})
    rc, _, err = cli(capsys, "run", "--resume-from", "r1", "--name", "r2")
    assert (rc, err) == (2, "pfgit: run 'r1' does not record its connections and init (recorded by an "
                            "older pfgit or imported) and it used connections (their overrides are "
                            "unknown): run it again with --flow and --data\n")
    # a flow with an LLM node, a flex flow: overrides or init values could have mattered
    for folder, files in (("flows/llm", LLM), ("flows/flex", {"flow.flex.yaml": "entry: m:f\n", "m.py": ""})):
        for rel, text in files.items():
            (repo / folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / folder / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more flows")
    r = Repo(str(repo))
    for folder, why in (("flows/llm", "its flow has LLM nodes"), ("flows/flex", "its flow is not a DAG flow"),
                        ("flows/f", None)):
        tree = git(repo, "rev-parse", f"HEAD:{folder}")
        got = _needs_request(r, {"connections": {}, "flow": {"tree": tree}})
        assert (got or "").startswith(why or ""), (folder, got)
        assert (got is None) == (why is None)

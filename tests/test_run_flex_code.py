"""A flex flow's `code:` folder: the entry is imported from it (it is first on sys.path and the
working directory), as promptflow does, in validate, test, run and history alike (one helper,
pfgit.flow.entry); a `code` outside the flow folder is refused everywhere with one line."""

from __future__ import annotations

import json
import shutil

import pytest

from fake_openai import FakeOpenAI
from history_helpers import fast_import
from pfgit.cli.main import main
from pfgit.flow.readers import DirReader
from pfgit.flow.entry import EntryPathError, entry_location
from pfgit.git.repo import open_repo
from pfgit.history.command import blame
from pfgit.validate import validate_path
from run_flows import git, make_repo, write_jsonl

APP = """\
import os

from helper import suffix


def shout(text: str) -> dict:
    with open("note.txt") as f:   # the working directory is the code folder
        note = f.read().strip()
    return {"out": text.upper() + suffix(), "note": note, "cwd": os.path.basename(os.getcwd())}
"""
OUTSIDE_APP = """\
import pathlib

pathlib.Path(__file__).with_name("IMPORTED").write_text("yes")


def shout(text: str) -> str:
    return text
"""


def problems(repo, rel: str) -> list:
    return [p for r in validate_path(DirReader(str(repo), ""), rel) for p in r.problems]


def code_flow(repo, name="fx", code="src"):
    (repo / name / code).mkdir(parents=True)
    (repo / name / "flow.flex.yaml").write_text(f"entry: app:shout\ncode: {code}\n")
    (repo / name / code / "app.py").write_text(APP)
    (repo / name / code / "helper.py").write_text("def suffix():\n    return '!'\n")
    (repo / name / code / "note.txt").write_text("from-src\n")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"docs": {"README.md": "flows\n"}})
    code_flow(r)
    write_jsonl(r / "data.jsonl", [{"text": "a"}, {"text": "b"}])
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "flex with code")
    monkeypatch.chdir(r)
    return r


def test_entry_location_follows_code():
    loc = entry_location({"entry": "pkg.app:run", "code": "src"}, "flows/fx")
    assert (loc.root, loc.file, loc.package, loc.module, loc.function) == \
        ("flows/fx/src", "flows/fx/src/pkg/app.py", "flows/fx/src/pkg/app", "pkg.app", "run")
    for code in (None, "", ".", "./"):
        assert entry_location({"entry": "app:f", "code": code}, "/abs/fx").file == "/abs/fx/app.py"
    assert entry_location({"entry": "app:f", "code": "a/../src"}).file == "src/app.py"
    assert entry_location({"entry": "app:f", "code": "src"}, "/abs/fx").root == "/abs/fx/src"
    for code in ("../outside", "src/../../x", "..", "/etc", "C:/x", 5):
        with pytest.raises(EntryPathError):
            entry_location({"entry": "app:f", "code": code}, "fx")
    assert entry_location({"entry": "App.Run", "code": "src"}) is None           # not module:function
    assert entry_location({"entry": "a:f", "language": "csharp", "code": "../x"}) is None
    assert entry_location({"entry": "a:f", "nodes": []}) is None                  # a DAG flow


def test_code_folder_flow_validates_tests_and_runs(repo, capsys):
    assert [p.code for p in problems(repo, "fx")] == []
    assert main(["test", "--flow", "fx", "--inputs", "text=hi"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": "HI!", "note": "from-src", "cwd": "src"}
    assert main(["run", "--flow", "fx", "--data", "data.jsonl", "--name", "r1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == {"total": 2, "completed": 2, "failed": 0}
    assert main(["runs", "stream", "r1"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["out"] for r in rows] == ["A!", "B!"] and {r["cwd"] for r in rows} == {"src"}
    # a missing module is looked for in the code folder, and said so
    (repo / "fx" / "src" / "app.py").rename(repo / "fx" / "app.py")
    probs = problems(repo, "fx")
    assert [(p.code, p.message) for p in probs] == [("missing-entry-file", "entry module 'app' is "
            "neither 'app.py' nor a package in 'fx/src' (code) (fine if it is an installed module)")]


@pytest.mark.parametrize("engine", ["builtin", "promptflow"])
def test_code_outside_the_flow_folder_is_refused(repo, capsys, engine):
    (repo / "outside").mkdir()
    (repo / "outside" / "app.py").write_text(OUTSIDE_APP)
    (repo / "fy").mkdir()
    (repo / "fy" / "flow.flex.yaml").write_text("entry: app:shout\ncode: ../outside\n")
    want = ("pfgit: fy/flow.flex.yaml:2: 'code: ../outside' points outside the flow folder; pfgit "
            "does not import code from there (keep the entry's code inside the flow folder)\n")
    for argv in (["test", "--flow", "fy", "--inputs", "text=x"],
                 ["run", "--flow", "fy", "--data", "data.jsonl", "--name", "bad"]):
        assert main(argv + ["--engine", engine]) == 2
        assert capsys.readouterr().err == want
    assert not (repo / "outside" / "IMPORTED").exists()
    if engine == "builtin":
        probs = problems(repo, "fy")
        assert [(p.code, p.line) for p in probs] == [("code-outside-flow", 2)]


def test_history_finds_the_entry_in_the_code_folder(tmp_path):
    yaml = b"entry: app:shout\ncode: src\n"
    shas = fast_import(tmp_path / "h", [
        {"files": {"fx/flow.flex.yaml": yaml, "fx/src/app.py": APP.encode()}, "msg": "add"},
        {"files": {"fx/src/app.py": APP.replace("upper()", "lower()").encode()}, "msg": "lower"},
        {"files": {"fx/src/helper.py": b"def suffix():\n    return '?'\n"}, "msg": "helper"},
    ])
    f = {x["field"]: x for x in blame(open_repo(str(tmp_path / "h")), "fx")["fields"]}
    assert f["entry.code"]["value"] == "fx/src/app.py" and f["entry.code"]["commit"] == shas[1]


def test_corpus_flex_flow_moved_into_a_code_folder(corpus, tmp_path, monkeypatch, capsys):
    src = corpus / "examples" / "flex-flows" / "basic"
    r = make_repo(tmp_path, {"docs": {"README.md": "flows\n"}})
    shutil.copytree(src, r / "fx" / "src", ignore=shutil.ignore_patterns("flow.flex.yaml", "*.ipynb"))
    (r / "fx" / "flow.flex.yaml").write_text((src / "flow.flex.yaml").read_text() + "code: src\n")
    assert [p.code for p in problems(r, "fx") if p.severity == "error"] == []
    monkeypatch.chdir(r)
    with FakeOpenAI() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        assert main(["test", "--flow", "fx", "--inputs", "text=Python hello"]) == 0
        assert srv.requests and "Python hello" in json.dumps(srv.bodies()[0])
    assert json.loads(capsys.readouterr().out)


def test_code_folder_imports_are_scanned_and_symlinks_out_refused(tmp_path, monkeypatch, capsys):
    # the import scan follows the entry's imports from the code folder: a sibling module there
    # using promptflow's OperationContext sends the flow to promptflow
    from pfgit.run.engine.select import choose
    from pfgit.run.spec import RunSpec

    r = make_repo(tmp_path, {"docs": {"README.md": "flows\n"}})
    (r / "fx" / "src" / "pkg").mkdir(parents=True)
    (r / "fx" / "flow.flex.yaml").write_text("entry: pkg.app:run\ncode: src\n")
    (r / "fx" / "src" / "pkg" / "app.py").write_text("from ctx import flow_id\n\n\ndef run() -> str:\n"
                                                    "    return flow_id()\n")
    (r / "fx" / "src" / "ctx.py").write_text(
        "from promptflow.tracing._operation_context import OperationContext\n\n\n"
        "def flow_id():\n    return OperationContext.get_instance().flow_id\n")
    with pytest.raises(Exception, match="src/ctx.py uses promptflow's OperationContext"):
        choose(RunSpec(flow=str(r / "fx"), engine="builtin"), None)
    # a code folder that is a symlink out of the repository
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "app.py").write_text(OUTSIDE_APP)
    (r / "fz").mkdir()
    (r / "fz" / "src").symlink_to(tmp_path / "elsewhere")
    (r / "fz" / "flow.flex.yaml").write_text("entry: app:shout\ncode: src\n")
    monkeypatch.chdir(r)
    assert main(["test", "--flow", "fz", "--inputs", "text=x"]) == 2
    assert "entry module 'src/app.py' is outside the repository" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere" / "IMPORTED").exists()
    assert main(["validate", "fz"]) == 1      # bounded by the repository, as the CLI reads it
    out = capsys.readouterr().out
    assert "error path-outside-repo entry module 'app' resolves outside the repository" in out

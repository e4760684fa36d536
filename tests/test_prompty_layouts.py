"""Where .prompty flows sit in a repository: several in one folder (promptflow's
examples/prompty/format-output holds four), or one at the root above other flows. Each .prompty
is a flow of its own for validate, diff and the flow lists, as it is for promptflow."""

from __future__ import annotations

import json
import subprocess

import flows
from pfgit.cli.main import main
from pfgit.flow.load import find_flows
from pfgit.flow.readers import DirReader


def _repo(tmp_path, files: dict):
    repo = tmp_path / "repo"
    flows.write(repo, files)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


PROMPT = flows.PROMPTY["chat.prompty"]
TWO = {"pr/a.prompty": PROMPT, "pr/b.prompty": PROMPT}


def test_diff_of_one_of_two_prompty_flows_in_a_folder(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, TWO)
    (repo / "pr/b.prompty").write_text(PROMPT.replace("gpt-35-turbo", "gpt-4o"), encoding="utf-8")
    monkeypatch.chdir(repo)
    assert main(["diff", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["flows"]
    # was: one flow 'pr' read from a.prompty, b.prompty an "unused file" and its setting unseen
    assert [(f["path"], f["file"]) for f in out] == [("pr/b.prompty", "pr/b.prompty")]
    changes = out[0]["changes"]
    assert {"op": "change", "path": ["model", "configuration", "azure_deployment"],
            "old": "gpt-35-turbo", "new": "gpt-4o"} in changes
    assert all(c["path"] != ["files", "a.prompty"] for c in changes)
    assert main(["diff", "--stat"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == " 1 flow changed, 2 semantic changes"


def test_prompty_added_beside_another_is_a_new_flow(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, {"pr/a.prompty": PROMPT})
    flows.write(repo, {"pr/b.prompty": PROMPT})
    monkeypatch.chdir(repo)
    assert main(["diff", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["flows"]
    assert [(f["path"], f["status"]) for f in out] == [("pr/b.prompty", "added")]


def test_root_prompty_does_not_hide_the_flows_below_it(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, {"chat.prompty": PROMPT, **{f"qa/{k}": v for k, v in flows.ACCURACY.items()}})
    locs = find_flows(DirReader(str(repo), str(repo)), ".")
    assert [(loc.dir, loc.file) for loc in locs] == [(".", "chat.prompty"), ("qa", "qa/flow.dag.yaml")]
    monkeypatch.chdir(repo)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "2 flows checked: no problems\n"  # was: 1 flow checked
    dag = repo / "qa/flow.dag.yaml"
    dag.write_text(dag.read_text(encoding="utf-8").replace("${inputs.", "${inputz."), encoding="utf-8")
    assert main(["validate"]) == 1
    assert "qa/flow.dag.yaml" in capsys.readouterr().out
    assert main(["diff", "--stat"]) == 0
    assert " qa " in capsys.readouterr().out  # was: no change reported at all


def test_a_renamed_prompty_is_one_flow_moved_with_its_text_diffed(tmp_path, monkeypatch, capsys):
    for files in ({"pr/a.prompty": PROMPT}, TWO):   # alone in its folder, or beside another
        repo = _repo(tmp_path / str(len(files)), files)
        subprocess.run(["git", "mv", "pr/a.prompty", "pr/z.prompty"], cwd=repo, check=True)
        (repo / "pr/z.prompty").write_text(PROMPT.replace("gpt-35-turbo", "gpt-4o"), encoding="utf-8")
        monkeypatch.chdir(repo)
        assert main(["diff", "HEAD", "--json"]) == 0
        [fd] = json.loads(capsys.readouterr().out)["flows"]
        # was: the prompt file added and the old one deleted, and no word of the rename
        assert fd["old_path"] == "pr/a.prompty" and fd["file"] == "pr/z.prompty"
        files_changed = [c for c in fd["changes"] if c["path"][0] == "files"]
        assert [(c["op"], c["path"]) for c in files_changed] == [("change", ["files", "z.prompty"])]
        assert main(["diff", "HEAD"]) == 0
        assert "moved from pr/a.prompty, changed" in capsys.readouterr().out.splitlines()[0]


def test_log_shows_the_runs_of_a_prompty_flow(tmp_path, monkeypatch, capsys):
    from pfgit.git.repo import open_repo
    from pfgit.store import record_run

    repo = _repo(tmp_path, {"pr/chat.prompty": PROMPT, **{f"qa/{k}": v for k, v in flows.ACCURACY.items()}})
    monkeypatch.chdir(repo)
    record_run(open_repo(str(repo)), "pr", "p1", [{"output": "x"}], {"score": 0.5}, {}, None)
    for argv in (["log", "--metric", "score"], ["log", "pr", "--metric", "score"],
                 ["log", "pr/chat.prompty", "--metric", "score"]):
        assert main(argv) == 0, argv
        out = capsys.readouterr().out   # was: "no flows", or "pr: no flow here" (exit 2)
        assert "  pr  base\n    p1  Completed  1/1  score=0.5\n" in out, (argv, out)


def test_counts_of_one_read_as_english(tmp_path, monkeypatch, capsys):
    from pfgit.git.repo import open_repo
    from pfgit.store import record_run

    repo = _repo(tmp_path, {"pr/chat.prompty": PROMPT})
    monkeypatch.chdir(repo)
    assert main(["export-zip", "pr", "-o", str(tmp_path / "pr.zip")]) == 0
    assert ": pr from the worktree, 1 file, " in capsys.readouterr().out   # was "1 files"
    record_run(open_repo(str(repo)), "pr", "p1", [{"output": "x"}], {}, {}, None)
    assert main(["index", "status"]) == 0
    assert ": 1 run, 1 commit, flows pr\n" in capsys.readouterr().out   # was "1 runs, 1 commits"


def test_blame_and_node_log_follow_dag_flows_beside_a_prompty(tmp_path, monkeypatch, capsys):
    # log lists .prompty flows now; blame and log --node follow nodes, which a .prompty has not
    repo = _repo(tmp_path, {"pr/chat.prompty": PROMPT, **{f"qa/{k}": v for k, v in flows.ACCURACY.items()}})
    monkeypatch.chdir(repo)
    assert main(["blame", "qa"]) == 0
    assert "flow qa at " in capsys.readouterr().out
    assert main(["log", "--node", "grade"]) == 0
    assert "node grade of flow qa" in capsys.readouterr().out
    assert main(["blame", "pr"]) == 2
    assert "pr/chat.prompty is a prompty flow" in capsys.readouterr().err


def test_pairing_renamed_prompts_is_linear_in_their_lines(tmp_path, monkeypatch, capsys):
    """.prompty flows pair by text similarity: difflib's ratio() was quadratic in the lines, and a
    pull request renaming a 3,000-line prompt of repeated lines (to one slightly changed) kept
    `pfgit diff` (and CI's check) busy for minutes (147 s for the one pair)."""
    import time

    body = PROMPT + "".join(f"line {i % 2}\n" for i in range(3000))
    repo = _repo(tmp_path, {"pr/a.prompty": body, "pr/b.prompty": PROMPT})   # paired by text
    subprocess.run(["git", "mv", "pr/a.prompty", "pr/z.prompty"], cwd=repo, check=True)
    (repo / "pr/z.prompty").write_text(PROMPT + "".join(f"line {(i + 1) % 3}\n" for i in range(3000)),
                                       encoding="utf-8")
    monkeypatch.chdir(repo)
    start = time.process_time()
    assert main(["diff", "HEAD", "--json"]) == 0
    assert time.process_time() - start < 10
    [fd] = json.loads(capsys.readouterr().out)["flows"]
    assert fd["old_path"] == "pr/a.prompty" and fd["file"] == "pr/z.prompty"   # still paired

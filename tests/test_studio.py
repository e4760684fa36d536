"""The studio round trip: export-zip, import-zip (three-way, base, backup, dry run), checkout-run."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest
import yaml

from pfgit.cli.main import main

FLOW = """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: clean
  type: python
  source:
    type: code
    path: clean.py
  inputs:
    question: ${inputs.question}
- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    q: ${clean.output}
    style: short
"""
TOOL = "from promptflow.core import tool\n\n\n@tool\n"
CLEAN = TOOL + "def clean(question):\n    return question\n"
ANSWER = TOOL + "def answer(q, style):\n    return q\n"


def git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, text=True,
                          stdout=subprocess.PIPE).stdout


def make_repo(tmp_path: pathlib.Path, files: dict | None = None) -> pathlib.Path:
    repo = tmp_path / "repo"
    (repo / "qa").mkdir(parents=True)
    for rel, text in (files or {"qa/flow.dag.yaml": FLOW, "qa/clean.py": CLEAN,
                                "qa/answer.py": ANSWER}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def pfgit(monkeypatch, cwd, *args) -> int:
    monkeypatch.chdir(cwd)
    return main(list(args))


def unzip(zpath: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(dest)
    return dest


def rezip(folder: pathlib.Path, zpath: pathlib.Path, top: str | None = "qa") -> None:
    """Zip `folder` as the studio would hand it back (one top folder, or the contents at the root)."""
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                zf.write(p, f"{top}/{rel}" if top else rel)


def studio_reformat(path: pathlib.Path, edit) -> None:
    """What the visual editor does on save: re-dump the whole file (sorted keys, 4-space indent,
    other quoting), after applying `edit` to the data."""
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=True, indent=4, default_flow_style=False, width=60))


def export_and_edit(tmp_path, monkeypatch, repo, edit, name: str = "back.zip") -> tuple:
    """Export qa, re-format its flow file "in the studio" after `edit`, zip it back:
    (the studio's folder, the zip to import)."""
    zpath = tmp_path / "qa.zip"
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(zpath)) == 0
    studio = unzip(zpath, tmp_path / "studio") / "qa"
    studio_reformat(studio / "flow.dag.yaml", edit)
    back = tmp_path / name
    rezip(studio, back)
    return studio, back


def node(data, name):
    return next(n for n in data["nodes"] if n["name"] == name)


def load(path: pathlib.Path):
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------------------------------------


def test_round_trip_keeps_both_sides_and_the_reformat_is_no_conflict(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    zpath = tmp_path / "qa.zip"
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(zpath)) == 0

    # in the studio: a full reformat plus node edits (an input changed, a node added)
    studio = unzip(zpath, tmp_path / "studio") / "qa"

    def edit(d):
        node(d, "answer")["inputs"]["style"] = "long"
        d["nodes"].append({"name": "log", "type": "python",
                           "source": {"type": "code", "path": "log.py"},
                           "inputs": {"x": "${answer.output}"}})
    studio_reformat(studio / "flow.dag.yaml", edit)
    (studio / "log.py").write_text(TOOL + "def log(x):\n    return x\n")
    back = tmp_path / "back.zip"
    rezip(studio, back)

    # meanwhile in git: the flow file and a source file change
    text = (repo / "qa/flow.dag.yaml").read_text().replace("    type: string\noutputs",
                                                           "    type: string\n    default: hi\noutputs")
    (repo / "qa/flow.dag.yaml").write_text(text)
    (repo / "qa/clean.py").write_text(CLEAN.replace("return question", "return question.strip()"))
    git(repo, "commit", "-qam", "git edits")
    before = (repo / "qa/flow.dag.yaml").read_text()

    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 0
    out = capsys.readouterr().out
    assert "closest to the zip" in out and "merged    flow.dag.yaml" in out
    merged_text = (repo / "qa/flow.dag.yaml").read_text()
    d = yaml.safe_load(merged_text)
    assert d["inputs"]["question"]["default"] == "hi"               # git's edit
    assert node(d, "answer")["inputs"]["style"] == "long"           # the studio's edit
    assert node(d, "log")["inputs"]["x"] == "${answer.output}"      # the studio's new node
    assert "<<<<<<<" not in merged_text
    assert merged_text.startswith(before.split("nodes:")[0])        # our layout, not the re-dump
    assert (repo / "qa/clean.py").read_text().endswith("question.strip()\n")
    assert (repo / "qa/log.py").exists()
    assert git(repo, "log", "--format=%s", "refs/pfgit/imports/qa").splitlines() == \
        ["pfgit import-zip back.zip into qa"]
    assert pfgit(monkeypatch, repo, "validate", "qa") == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "studio edits")

    # a second studio round: builds on the first import (its base is that import)
    def edit2(d):
        node(d, "answer")["inputs"]["style"] = "formal"
        d["nodes"] = [n for n in d["nodes"] if n["name"] != "log"]
    studio_reformat(studio / "flow.dag.yaml", edit2)
    (studio / "log.py").unlink()
    (studio / "answer.py").write_text(ANSWER + "# studio\n")
    back2 = tmp_path / "back2.zip"
    rezip(studio, back2)
    (repo / "qa/clean.py").write_text(CLEAN.replace("return question", "return question.lower()"))
    git(repo, "commit", "-qam", "lower")
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back2), "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["base"]["kind"] == "import"
    actions = {f["path"]: f["action"] for f in res["files"]}
    assert actions == {"flow.dag.yaml": "merge", "log.py": "delete", "answer.py": "update"}
    d = load(repo / "qa/flow.dag.yaml")
    assert node(d, "answer")["inputs"]["style"] == "formal"
    assert [n["name"] for n in d["nodes"]] == ["clean", "answer"]
    assert d["inputs"]["question"]["default"] == "hi"
    assert "lower()" in (repo / "qa/clean.py").read_text()
    log = git(repo, "log", "--format=%H %P", "refs/pfgit/imports/qa").splitlines()
    assert len(log) == 2 and log[0].split()[1] == log[1].split()[0]   # parent: the last import


def test_conflict_is_left_listed_and_the_worktree_is_backed_up(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    studio, back = export_and_edit(tmp_path, monkeypatch, repo,
                                   lambda d: node(d, "answer")["inputs"].update(style="studio"))
    (studio / "answer.py").write_text(ANSWER.replace("return q", "return q + 'studio'"))
    rezip(studio, back)
    # uncommitted worktree edits to the same input and the same line
    wt_flow = (repo / "qa/flow.dag.yaml").read_text().replace("style: short", "style: local")
    (repo / "qa/flow.dag.yaml").write_text(wt_flow)
    (repo / "qa/answer.py").write_text(ANSWER.replace("return q", "return q + 'local'"))
    (repo / "qa/notes.md").write_text("my notes\n")          # unknown to both: never touched
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 1
    out = capsys.readouterr().out
    assert "conflict  flow.dag.yaml" in out and "conflict  answer.py" in out
    text = (repo / "qa/flow.dag.yaml").read_text()
    assert "<<<<<<< worktree" in text and "style: local" in text and "style: studio" in text
    assert "<<<<<<< worktree" in (repo / "qa/answer.py").read_text()
    assert (repo / "qa/notes.md").read_text() == "my notes\n"
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "conflicts", "qa") == 1
    assert "qa/flow.dag.yaml: 1 conflict" in capsys.readouterr().out
    # the worktree as it was is one checkout away
    git(repo, "checkout", "refs/pfgit-backups/imports/qa", "--", "qa")
    assert (repo / "qa/flow.dag.yaml").read_text() == wt_flow
    assert "'local'" in (repo / "qa/answer.py").read_text()
    assert git(repo, "show", "refs/pfgit-backups/imports/qa:qa/notes.md") == "my notes\n"


def test_dry_run_prints_the_semantic_diff_and_writes_nothing(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    export_and_edit(tmp_path, monkeypatch, repo, lambda d: node(d, "answer")["inputs"].update(style="long"))
    back = tmp_path / "back.zip"
    state = snapshot(tmp_path)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "~ inputs.style: short -> long" in out and "dry run: nothing written" in out
    assert snapshot(tmp_path) == state
    assert pfgit(monkeypatch, repo, "import-zip", str(back), "--dry-run", "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["dry_run"] and res["diff"]["flows"][0]["changes"][0]["path"] == \
        ["nodes", "answer", "inputs", "style"]
    assert snapshot(tmp_path) == state


def test_zip_with_flow_at_its_root_new_flow_and_studio_files(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "flow.dag.yaml").write_text(FLOW)
    (src / "clean.py").write_text(CLEAN)
    (src / "answer.py").write_text(ANSWER)
    (src / "flow.meta.yaml").write_text("name: chat\n")
    (src / ".promptflow").mkdir()
    (src / ".promptflow/flow.tools.json").write_text("{}\n")
    (src / ".promptflow/flow.log").write_text("log\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__/x.pyc").write_bytes(b"\0")
    (src / ".env").write_text("KEY=secret\n")
    z = tmp_path / "chat.zip"
    rezip(src, z, top=None)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--into", "flows/chat") == 0
    out = capsys.readouterr().out
    assert "base: nothing (a new flow)" in out and "left out of the zip" in out
    chat = repo / "flows/chat"
    assert sorted(p.relative_to(chat).as_posix() for p in chat.rglob("*") if p.is_file()) == \
        [".promptflow/flow.tools.json", "answer.py", "clean.py", "flow.dag.yaml", "flow.meta.yaml"]
    # studio files are taken from the zip, never merged or shown as changes
    (src / "flow.meta.yaml").write_text("name: chat v2\n")
    (src / ".promptflow/flow.tools.json").write_text('{"code": {}}\n')
    (chat / ".promptflow/flow.tools.json").write_text('{"local": 1}\n')
    rezip(src, z, top=None)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--into", "flows/chat", "--dry-run") == 0
    assert "no semantic change" in capsys.readouterr().out
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--into", "flows/chat") == 0
    assert (chat / "flow.meta.yaml").read_text() == "name: chat v2\n"
    assert (chat / ".promptflow/flow.tools.json").read_text() == '{"code": {}}\n'
    assert not (repo / "flows/chat/.env").exists()


def test_first_import_finds_the_identical_commit_in_history(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    zpath = tmp_path / "qa.zip"
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(zpath)) == 0
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "qa/answer.py").write_text(ANSWER + "# later\n")
    git(repo, "commit", "-qam", "later")
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(zpath), "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["base"] == {"kind": "identical", "commit": first, "distance": 0}
    assert res["files"] == []                     # the studio changed nothing: git's edit stays
    assert (repo / "qa/answer.py").read_text().endswith("# later\n")


def test_export_is_reproducible_and_leaves_out_artefacts(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    (repo / ".gitignore").write_text("*.log\n")
    qa = repo / "qa"
    for rel, text in {".promptflow/flow.tools.json": "{}", ".promptflow/flow.output.json": "{}",
                      "__pycache__/a.pyc": "x", ".runs/r/x": "x", ".env": "K=v", ".env.local": "K=v",
                      "debug.log": "x", "new.py": "x = 1\n"}.items():
        (qa / rel).parent.mkdir(parents=True, exist_ok=True)
        (qa / rel).write_text(text)
    (qa / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(qa / "run.sh", 0o755)
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(a)) == 0
    os.utime(qa / "clean.py", (1e9, 1e9))             # other times and permissions: same bytes
    os.chmod(qa / "answer.py", 0o600)
    assert pfgit(monkeypatch, repo, "export-zip", "qa/flow.dag.yaml", "-o", str(b)) == 0
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert names == ["qa/.promptflow/flow.tools.json", "qa/answer.py", "qa/clean.py",
                         "qa/flow.dag.yaml", "qa/new.py", "qa/run.sh"]
        infos = {i.filename: i for i in zf.infolist()}
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos.values())
        assert infos["qa/run.sh"].external_attr >> 16 == 0o100755
        assert infos["qa/answer.py"].external_attr >> 16 == 0o100644
    # an existing different file is not replaced without --force
    (qa / "new.py").write_text("x = 2\n")
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(a)) == 2
    assert "use --force" in capsys.readouterr().err
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(a), "--force") == 0
    assert a.read_bytes() != b.read_bytes()


def test_export_names_the_additional_includes_it_cannot_hold(tmp_path, monkeypatch, capsys):
    """promptflow's flow-with-additional-includes takes its sources from ../web-classification:
    the zip of the folder lacks them, and the export said nothing."""
    repo = make_repo(tmp_path)
    (repo / "shared").mkdir()
    (repo / "shared/extra.py").write_text("X = 1\n")
    flow = repo / "qa/flow.dag.yaml"
    flow.write_text("additional_includes:\n- ../shared/extra.py\n- answer.py\n" + flow.read_text())
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(tmp_path / "a.zip"), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] == [{"path": "../shared/extra.py", "why": "additional_includes outside the flow folder"}]
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert "qa/answer.py" in zf.namelist()


def _record_run(repo, name: str) -> str:
    from pfgit.git.repo import open_repo
    from pfgit.store.snapshot import record_run

    r = open_repo(str(repo))
    rec = record_run(r, str(repo / "qa"), name, [{"answer": "x"}], {"accuracy": 1.0},
                     update_index=False)
    return rec.flow_commit


def test_export_from_a_revision_and_a_run(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    (repo / "qa/answer.py").write_text(ANSWER + "# uncommitted, run\n")
    flow_commit = _record_run(repo, "r1")
    (repo / "qa/answer.py").write_text(ANSWER + "# later\n")
    assert pfgit(monkeypatch, repo, "export-zip", "qa", "--rev", "HEAD", "-o", "rev.zip") == 0
    assert pfgit(monkeypatch, repo, "export-zip", "--run", "r1", "-o", "run.zip") == 0
    with zipfile.ZipFile(repo / "rev.zip") as zf:
        assert zf.read("qa/answer.py").decode() == ANSWER
    with zipfile.ZipFile(repo / "run.zip") as zf:
        assert zf.read("qa/answer.py").decode().endswith("# uncommitted, run\n")
    assert flow_commit != git(repo, "rev-parse", "HEAD").strip()   # a dirty worktree's commit


def test_checkout_run_writes_the_exact_flow_with_provenance(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    (repo / "qa/answer.py").write_text(ANSWER + "# as run\n")
    flow_commit = _record_run(repo, "r1")
    (repo / "qa/answer.py").write_text(ANSWER + "# later\n")
    dest = tmp_path / "deploy"
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "checkout-run", "r1", str(dest)) == 0
    assert "wrote" in capsys.readouterr().out
    assert (dest / "answer.py").read_text().endswith("# as run\n")
    assert (dest / "flow.dag.yaml").read_text() == FLOW
    prov = json.loads((dest / ".pfgit-run.json").read_text())
    run_commit = git(repo, "rev-parse", "refs/pfgit/runs/r1").strip()
    assert prov["run"] == "r1" and prov["run_commit"] == run_commit
    assert prov["flow_commit"] == flow_commit and prov["flow_path"] == "qa"
    # refuses a non-empty folder, writes nothing into it
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "checkout-run", "r1", str(dest)) == 2
    assert "not empty" in capsys.readouterr().err
    # default: a new folder named after the run, in the current folder
    assert pfgit(monkeypatch, tmp_path, "checkout-run", "--json", "r1") == 2   # not a repo here
    assert pfgit(monkeypatch, repo, "checkout-run", "r1") == 0
    assert (repo / "r1/flow.dag.yaml").exists()
    assert pfgit(monkeypatch, repo, "checkout-run", "nope") == 2


def test_round_trip_on_a_corpus_flow(tmp_path, monkeypatch, corpus, capsys):
    src = corpus / "examples/flows/standard/web-classification"
    repo = tmp_path / "repo"
    shutil.copytree(src, repo / "web")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "web-classification")
    zpath = tmp_path / "web.zip"
    assert pfgit(monkeypatch, repo, "export-zip", "web", "-o", str(zpath)) == 0
    studio = unzip(zpath, tmp_path / "studio") / "web"
    nodes = [n["name"] for n in load(repo / "web/flow.dag.yaml")["nodes"]]
    a, b = nodes[0], nodes[-1]
    studio_reformat(studio / "flow.dag.yaml",
                    lambda d: node(d, b).setdefault("inputs", {}).update(studio_flag="on"))
    back = tmp_path / "back.zip"
    rezip(studio, back, top="web")
    d = load(repo / "web/flow.dag.yaml")
    text = (repo / "web/flow.dag.yaml").read_text()
    (repo / "web/flow.dag.yaml").write_text(text.replace(f"- name: {a}\n", f"- name: {a}\n  comment: git\n", 1))
    git(repo, "commit", "-qam", "comment")
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back), "--into", "web") == 0
    merged = load(repo / "web/flow.dag.yaml")
    assert node(merged, a)["comment"] == "git"
    assert node(merged, b)["inputs"]["studio_flag"] == "on"
    assert merged["node_variants"] == d["node_variants"]
    assert git(repo, "status", "--porcelain").strip() == "M web/flow.dag.yaml"


def snapshot(root: pathlib.Path) -> dict:
    """Every file below root (the repo with its .git, and around it) with its bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            out[rel] = os.readlink(p) if os.path.islink(p) else pathlib.Path(p).read_bytes()
    return out



def test_a_tie_between_history_commits_takes_the_older_base(tmp_path, monkeypatch, capsys):
    """Both sides changed the same input from the exported value: a conflict, not a silent
    overwrite (taking the newer commit as base would make git's edit look unchanged)."""
    repo = make_repo(tmp_path)
    studio, back = export_and_edit(tmp_path, monkeypatch, repo,
                                   lambda d: node(d, "answer")["inputs"].update(style="studio"))
    flow = repo / "qa/flow.dag.yaml"
    flow.write_text(flow.read_text().replace("style: short", "style: git"))
    git(repo, "commit", "-qam", "git style")
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back), "--json") == 1
    res = json.loads(capsys.readouterr().out)
    assert res["base"]["commit"] == git(repo, "rev-parse", "HEAD~1").strip()
    assert res["files"] == [{"path": "flow.dag.yaml", "action": "conflict",
                             "note": "semantic merge", "conflicts": 1}]
    # the markers must be resolved before another import merges the file again
    studio_reformat(studio / "flow.dag.yaml", lambda d: node(d, "answer")["inputs"].update(style="s2"))
    rezip(studio, back)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 2
    assert "holds conflict markers" in capsys.readouterr().err


def test_worktree_modes_symlinks_and_flow_file_name_are_respected(tmp_path, monkeypatch, capsys):
    files = {"qa/flow.dag.yml": FLOW, "qa/clean.py": CLEAN, "qa/answer.py": ANSWER, "qa/run.sh": "#!/bin/sh\n"}
    repo = make_repo(tmp_path, files)
    os.chmod(repo / "qa/run.sh", 0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "exec")
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "flow.dag.yaml").write_text(FLOW.replace("style: short", "style: long"))   # .yaml, not .yml
    (src / "run.sh").write_text("#!/bin/sh\necho studio\n")                         # no unix mode
    (src / "clean.py").write_text(CLEAN)
    (src / "answer.py").write_text(ANSWER)
    z = tmp_path / "z.zip"
    rezip(src, z, top=None)
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--into", "qa") == 0
    assert not (repo / "qa/flow.dag.yaml").exists()
    assert "style: long" in (repo / "qa/flow.dag.yml").read_text()
    assert os.stat(repo / "qa/run.sh").st_mode & 0o777 == 0o755
    # a folder of the flow that is a symlink in the worktree is never written through
    os.symlink(outside, repo / "qa/lib")
    (src / "lib").mkdir()
    (src / "lib/x.py").write_text("x = 1\n")
    rezip(src, z, top=None)
    state = snapshot(tmp_path)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--into", "qa") == 2
    assert "symbolic link" in capsys.readouterr().err
    assert snapshot(tmp_path) == state and not list(outside.iterdir())


def test_zip_layouts_flow_at_the_root_or_in_one_folder():
    from pfgit.integrate.studio.files import from_zip
    from pfgit.integrate.studio.safezip import ZipEntry

    def e(name):
        return ZipEntry(name, b"x", False)
    files, top, ff, skipped = from_zip([e("qa/flow.dag.yaml"), e("qa/a.py"), e("README.txt"),
                                        e("__MACOSX/qa/._a.py"), e("qa/.promptflow/flow.log")], "z")
    assert (top, ff, sorted(files)) == ("qa", "flow.dag.yaml", ["a.py", "flow.dag.yaml"])
    assert ("README.txt", "outside the flow folder") in skipped and len(skipped) == 3
    files, top, ff, _ = from_zip([e("chat.prompty"), e("lib/y.py")], "z")
    assert (top, ff, sorted(files)) == ("", "chat.prompty", ["chat.prompty", "lib/y.py"])


def test_ignored_and_hidden_files_in_the_worktree_are_never_overwritten(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "qa/debug.log").write_text("local log\n")
    (repo / "qa/node_modules").mkdir()
    (repo / "qa/node_modules/x.js").write_text("local\n")
    studio, back = export_and_edit(tmp_path, monkeypatch, repo, lambda d: None)
    (studio / "debug.log").write_text("studio log\n")
    (studio / "node_modules").mkdir()
    (studio / "node_modules/x.js").write_text("studio\n")
    rezip(studio, back)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back), "--json") == 1
    res = json.loads(capsys.readouterr().out)
    assert {"path": "debug.log", "why": "ignored by .gitignore"} in res["skipped"]
    assert [(f["path"], f["action"]) for f in res["files"]] == [("node_modules/x.js", "conflict")]
    assert (repo / "qa/debug.log").read_text() == "local log\n"
    assert (repo / "qa/node_modules/x.js").read_text() == "local\n"


def test_studio_only_edits_keep_the_worktree_layout(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    _, back = export_and_edit(tmp_path, monkeypatch, repo, lambda d: None)   # a re-format alone
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert (repo / "qa/flow.dag.yaml").read_text() == FLOW
    _, back2 = export_and_edit(tmp_path, monkeypatch, repo,
                               lambda d: node(d, "answer")["inputs"].update(style="long"), "b2.zip")
    assert pfgit(monkeypatch, repo, "import-zip", str(back2)) == 0
    assert (repo / "qa/flow.dag.yaml").read_text() == FLOW.replace("style: short", "style: long")


def test_an_interrupted_import_is_resumed_by_running_it_again(tmp_path, monkeypatch, capsys):
    from pfgit.integrate.studio import zipimport

    repo = make_repo(tmp_path)
    studio, back = export_and_edit(tmp_path, monkeypatch, repo,
                                   lambda d: node(d, "answer")["inputs"].update(style="long"))
    (studio / "answer.py").write_text(ANSWER + "# studio\n")
    (studio / "zz_new.py").write_text("x = 1\n")
    rezip(studio, back)
    real, calls = zipimport._write, []

    def failing(path, f):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, f)
    monkeypatch.setattr(zipimport, "_write", failing)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "running the import again resumes it" in err
    assert git(repo, "for-each-ref", "refs/pfgit/imports/") == ""      # not recorded yet
    monkeypatch.setattr(zipimport, "_write", real)
    assert pfgit(monkeypatch, repo, "import-zip", str(back)) == 0
    assert node(load(repo / "qa/flow.dag.yaml"), "answer")["inputs"]["style"] == "long"
    assert (repo / "qa/answer.py").read_text().endswith("# studio\n")
    assert (repo / "qa/zz_new.py").exists()
    assert len(git(repo, "log", "--format=%H", "refs/pfgit/imports/qa").split()) == 1


def test_a_fetched_import_ref_that_is_not_a_commit_is_a_usage_error(tmp_path, monkeypatch, capsys):
    # refs/pfgit/imports/* travel with `pfgit fetch`: one naming a blob was an internal error
    repo = make_repo(tmp_path)
    export_and_edit(tmp_path, monkeypatch, repo, lambda d: node(d, "answer")["inputs"].update(style="long"))
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="x", text=True,
                          stdout=subprocess.PIPE, check=True).stdout.strip()
    git(repo, "update-ref", "refs/pfgit/imports/qa", blob)
    capsys.readouterr()
    assert pfgit(monkeypatch, repo, "import-zip", str(tmp_path / "back.zip")) == 2
    err = capsys.readouterr().err
    assert "refs/pfgit/imports/qa does not name a commit" in err and "internal error" not in err

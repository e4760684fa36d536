"""A studio zip holding git's own files (`.gitattributes`, `.gitmodules`, `.gitignore`, also as
NTFS or HFS+ spell them) imports none of them: they would change how git treats the
repository's files (a `* -diff` hides changes from review, a `filter=` runs a configured
command, a `merge=` picks a driver), which is not the studio's to decide. Each is listed as left
out, with why; export leaves them out too."""

from __future__ import annotations

import json
import zipfile

from test_studio import FLOW, make_repo, pfgit

GIT_FILES = {"qa/.gitattributes": b"* -diff\n*.py filter=evil\n",
             "qa/.gitmodules": b'[submodule "x"]\n\tpath = x\n\turl = ../evil\n',
             "qa/tools/.GitIgnore.": b"*.py\n",
             "qa/GITATT~1": b"* merge=ours\n"}


def test_import_leaves_out_gitattributes_gitmodules_and_gitignore(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    z = tmp_path / "from-studio.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("qa/flow.dag.yaml", FLOW)
        zf.writestr("qa/.github/notes.md", "kept: .github is no git file\n")
        for name, data in GIT_FILES.items():
            zf.writestr(name, data)
    assert pfgit(monkeypatch, repo, "import-zip", str(z), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    skipped = {s["path"]: s["why"] for s in out["skipped"]}
    assert set(skipped) == set(GIT_FILES)
    assert skipped["qa/.gitattributes"].startswith("git's own file (.gitattributes): it would set")
    assert "gitmodules" in skipped["qa/.gitmodules"] and "ignores" in skipped["qa/tools/.GitIgnore."]
    for name in GIT_FILES:
        assert not (repo / name).exists(), name
    assert (repo / "qa" / ".github" / "notes.md").exists()
    # the text output names them on the "left out" line
    (repo / "qa" / ".gitattributes").write_text("flow.dag.yaml diff=pfgit\n")
    z2 = tmp_path / "again.zip"
    with zipfile.ZipFile(z2, "w") as zf:
        zf.writestr("qa/flow.dag.yaml", FLOW)
        zf.writestr("qa/.gitattributes", "* -diff\n")
    assert pfgit(monkeypatch, repo, "import-zip", str(z2)) == 0
    assert "qa/.gitattributes (git's own file (.gitattributes)" in capsys.readouterr().out
    # the worktree's own .gitattributes is neither replaced nor deleted
    assert (repo / "qa" / ".gitattributes").read_text() == "flow.dag.yaml diff=pfgit\n"


def test_export_from_the_worktree_names_what_it_leaves_out_as_from_a_revision(tmp_path, monkeypatch, capsys):
    """export-zip --rev REV listed a committed `.gitignore` as left out (with why); export-zip
    of the same worktree left it out without a word (only symbolic links were listed)."""
    from runs_helpers import git

    repo = make_repo(tmp_path)
    (repo / "qa" / ".gitignore").write_text("*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gitignore")
    whys = []
    for extra in ([], ["--rev", "HEAD"]):
        assert pfgit(monkeypatch, repo, "export-zip", "qa", "-o", str(tmp_path / "qa.zip"), "--force",
                     "--json", *extra) == 0
        out = json.loads(capsys.readouterr().out)
        assert ".gitignore" not in out["files"]
        whys.append(out["skipped"])
    assert whys[0] == whys[1] == [{"path": ".gitignore", "why": "git's own file (.gitignore): it would "
                                                                "change which files git ignores"}]

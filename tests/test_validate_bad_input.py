"""Bad input never gives a traceback or a hang: a problem with its line, or one error line + exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pfgit.cli.main import main


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pfgit", "validate", *args], cwd=cwd, text=True,
                          capture_output=True, env=dict(os.environ, NO_COLOR="1"), timeout=120)


def flow(tmp_path, content, name="flow.dag.yaml"):
    d = tmp_path / "f"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return d


@pytest.mark.parametrize("content,line,code,text", [
    ("nodes:\n- name: a\n  inputs: {x: 1\n- name: b\n", 4, "yaml-syntax", "invalid YAML"),
    ("inputs:\n\tq: 1\n", 2, "yaml-syntax", "invalid YAML"),
    ("", 1, "empty-file", "empty"),
    ("# only a comment\n", 1, "empty-file", "no content"),
    ("- name: a\n- name: b\n", 1, "not-a-mapping", "a list"),
    ("just text\n", 1, "not-a-mapping", "str scalar"),
    (b"inputs:\n  q:\n    type: string\n    default: caf\xe9\n", 4, "bad-encoding", "UTF-8"),
    ("a: &x [*x]\n", 1, None, None),   # a recursive alias: parsed or refused, never a crash
])
def test_unreadable_flow_files_are_problems(tmp_path, capsys, content, line, code, text):
    d = flow(tmp_path, content)
    rc = main(["validate", "--json", str(d)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    if code is None:
        assert rc in (0, 1)
        return
    import json

    assert rc == 1
    [p] = json.loads(out.out)["flows"][0]["problems"]
    assert (p["code"], p["line"]) == (code, line) and text in p["message"]


def test_missing_folder_is_a_usage_error(tmp_path):
    p = run("nope", cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (2, "", "pfgit: nope: no such file or folder\n")


def test_symlink_loop_as_path_and_inside_a_tree(tmp_path, corpus):
    os.symlink("loop", tmp_path / "loop")
    p = run("loop", cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("pfgit: loop: cannot read: ") and p.stderr.count("\n") == 1
    # a folder whose symlinks loop back up: searched without following them, no hang
    d = tmp_path / "tree" / "sub"
    d.mkdir(parents=True)
    os.symlink("..", d / "up")
    (d / "flow.dag.yaml").write_text("inputs: {}\noutputs: {}\nnodes: []\n")
    os.symlink("flow.dag.yml", tmp_path / "tree" / "flow.dag.yml")  # a flow file that is a loop
    p = run("tree", cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stdout.splitlines()[0].startswith("tree/flow.dag.yml:1: error unreadable-file ")
    assert p.stdout.splitlines()[-1] == "1 flow checked: 1 error (1 flow failed)"


def test_fifty_megabyte_flow_file(tmp_path):
    d = flow(tmp_path, b"# " + b"x" * 98 + b"\n")
    with open(d / "flow.dag.yaml", "ab") as f:
        f.truncate(50 * 1024 * 1024)
    p = run("f", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout.startswith("f/flow.dag.yaml:1: error file-too-large the flow file is larger "
                               "than 10 MB")


def test_five_thousand_nodes_through_the_cli(tmp_path):
    nodes = "".join(f"- name: n{i}\n  type: python\n  source: {{type: code, path: t.py}}\n"
                    f"  inputs: {{x: '${{n{i - 1}.output}}'}}\n" if i else
                    "- name: n0\n  type: python\n  source: {type: code, path: t.py}\n"
                    for i in range(5000))
    d = flow(tmp_path, "inputs: {}\noutputs: {}\nnodes:\n" + nodes)
    (d / "t.py").write_text("from promptflow.core import tool\n@tool\ndef f(x=None):\n    return x\n")
    p = run("f", cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, "1 flow checked: no problems\n", "")


def test_unreadable_source_file_and_directory_as_flow_file(tmp_path):
    d = flow(tmp_path, "nodes:\n- name: a\n  type: python\n  source: {type: code, path: a.py}\n")
    (d / "a.py").mkdir()
    (tmp_path / "g" / "flow.dag.yaml").mkdir(parents=True)
    p = run("f", "g", cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = p.stdout.splitlines()
    assert "f/flow.dag.yaml:4: error unreadable-file [a] 'f/a.py' is a folder, not a file" in lines
    assert "g/flow.dag.yaml:1: error unreadable-file is a folder, not a flow file" in lines

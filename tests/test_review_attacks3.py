"""Regressions from a third attacker's review (a hostile pull request, remote or zip): each test
fails without its fix (docs/security.md)."""

from __future__ import annotations

import time

from runs_helpers import run_cli
from secure_helpers import FLOW, git, make_flow_repo

PROMPT_NODE = """- name: p
  type: prompt
  source: {type: code, path: p.jinja2}
  inputs: {x: "${inputs.q}"}
"""


def test_validate_never_evaluates_a_templates_constant_expressions(tmp_path, monkeypatch, capsys):
    """Jinja2 folds constants while compiling: validate computed `'x'|center(10**10)` (10 GB,
    minutes: a pull request stalled the pre-commit hook and CI), `2 ** 100000` was an internal
    error (ValueError), and `{% macro m(a, a) %}` another (Python's SyntaxError)."""
    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "flow.dag.yaml").write_text(FLOW + PROMPT_NODE)
    for template in ("{{ 2 ** 100000 }}", "{{ 'x'|center(10000000000) }}", "{{ 'a' * 10000000000 }}",
                     "{{ [1] * 10000000000 }}", "{{ -(9 ** 99999999) }}",
                     "{% autoescape 'a' * 10000000000 %}x{% endautoescape %}",
                     "{{ x|upper ~ 'a' * 10000000000 }}"):
        (repo / "flow" / "p.jinja2").write_text(template)
        start = time.process_time()
        code, out, err = run_cli(monkeypatch, capsys, repo, "validate", "flow")
        assert time.process_time() - start < 5, template
        assert code == 0 and err == "", (template, out, err)
    for template, why in (("{{ x|nosuch }}", "No filter named 'nosuch'"),   # still refused
                          ("{{ x is nosuch }}", "No test named 'nosuch'"),
                          ("{% macro m(a, a) %}{% endmacro %}", "duplicate argument 'a'")):
        (repo / "flow" / "p.jinja2").write_text(template)
        code, out, err = run_cli(monkeypatch, capsys, repo, "validate", "flow")
        assert code == 1 and "jinja-syntax" in out and why in out and err == "", (template, out, err)


def test_textconv_of_a_flow_prints_no_escape_sequence_or_made_up_line():
    """git prints textconv output as it is (`git log -p`, `git show`): the outline wrote node
    names as parsed, so YAML's "\\e]0;...\\a" set the reviewer's terminal title and a "\\n" in
    a name printed a made-up `nodes.echo.type: removed` line."""
    from pfgit.diff.outline import outline_bytes

    evil = FLOW + ('- name: "evil\\e]0;PWNED\\a\\e[2J\\nnodes.echo.type: removed"\n  type: python\n'
                   '  source: {type: code, path: "a\\e[8m\\u202e.py"}\n')
    out = outline_bytes(evil.encode(), "XXXXXX_flow.dag.yaml").decode()
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert not any(ln.startswith("nodes.echo.type: removed") for ln in out.splitlines())
    assert "nodes.evil\\u001b]0;PWNED\\u0007\\u001b[2J\\nnodes.echo.type: removed.type: python" in out


def test_a_path_argument_that_is_a_symlink_out_of_the_repository_is_not_read(tmp_path, monkeypatch, capsys):
    """A pull request commits `flows/g -> ~/elsewhere` (a folder with a flow) or `flow/leak.txt ->
    ~/.ssh/id_rsa`; `pfgit validate flows/*` in CI validated what the link points to (its node
    names and problems printed), and `pfgit diff --no-index flow/leak.txt x` printed the secret."""
    import os

    repo = make_flow_repo(tmp_path)
    outside = tmp_path / "outside"
    (outside / "oflow").mkdir(parents=True)
    (outside / "oflow" / "flow.dag.yaml").write_text(FLOW.replace("echo", "outside_node"))
    (outside / "secret.txt").write_text("TOPSECRET\n")
    os.symlink(outside / "oflow", repo / "g")
    os.symlink(outside / "secret.txt", repo / "flow" / "leak.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    for argv in (["validate", "g"], ["validate", "g/flow.dag.yaml"], ["validate", "flow", "g"],
                 ["diff", "--no-index", "flow", "g"],
                 ["diff", "--no-index", "flow/leak.txt", "flow/echo.py"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and "outside_node" not in out + err and "TOPSECRET" not in out + err, argv
        assert "resolves outside the repository" in err and err.count("\n") == 1, (argv, err)
    for argv in (["validate", "flow"], ["validate", "flow/leak.txt"]):   # (pre-commit passes files)
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0 and "TOPSECRET" not in out + err, out + err
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff", "--no-index", "flow/flow.dag.yaml",
                             "flow/flow.dag.yaml")
    assert code == 0 and err == "", err


def _hostile_run(repo, name, run_json: bytes, message: bytes, packed: bool = False) -> None:
    """refs/pfgit/runs/NAME: a snapshot commit with `message` whose tree holds `run_json`."""
    blob = git(repo, "hash-object", "-w", "--stdin", input=run_json.decode())
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trun.json\n")
    commit = git(repo, "commit-tree", tree, input=message.decode())
    git(repo, "update-ref", f"refs/pfgit/runs/{name}", commit)
    if packed:
        git(repo, "repack", "-adq")


def test_a_fetched_run_that_inflates_to_megabytes_is_judged_by_its_header(tmp_path, monkeypatch, capsys):
    """git stores repetitive bytes 1000-fold smaller: a remote's 20 KB objects were a 20 MB
    run.json and a 20 MB commit message that every runs command inflated and parsed (a 90 MB one
    took 640 MB and 18 s at each `pfgit fetch`, a few made the index refresh run out of memory)."""
    import json
    import tracemalloc

    repo = make_flow_repo(tmp_path)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--name", "good")
    assert code == 0, err
    huge = json.dumps({"name": "x", "settings": {"x": [1] * 10_000_000}}).encode()   # 30 MB
    _hostile_run(repo, "bigjson", huge, b"pfgit run bigjson\n")
    _hostile_run(repo, "bigcommit", b"{}", b"pfgit run bigcommit\n\nPfgit-Run: " + huge +
                 b"\nPfgit-Metrics: {}\n")
    for packed in (False, True):   # loose objects, then packed (a fetch's, git gc's)
        if packed:
            git(repo, "repack", "-adq")
        tracemalloc.start()
        code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert code == 0 and [r["name"] for r in json.loads(out)["runs"]] == ["good"], err
        assert peak < 20 << 20, peak
        for name, why in (("bigjson", "snapshot has no readable run.json (it is 30,000,"),
                          ("bigcommit", "-byte object, not a commit pfgit wrote")):
            code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "show", name)
            assert code == 2 and why in err and err.count("\n") == 1, err


def test_object_size_reads_headers_of_loose_packed_and_delta_objects(tmp_path):
    from dulwich.repo import Repo

    from pfgit.git.objects import object_size

    repo = make_flow_repo(tmp_path)
    for i in range(30):   # similar blobs: git packs them as deltas
        (repo / "flow" / "echo.py").write_text(FLOW * 20 + f"# {i}\n")
        git(repo, "commit", "-qam", f"c{i}")
    objs = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objectsize)")
    truth = dict(ln.split() for ln in objs.splitlines())
    r = Repo(str(repo))
    assert all(object_size(r, sha.encode()) == int(size) for sha, size in truth.items())
    git(repo, "gc", "-q", "--aggressive")
    assert "chain length" in git(repo, "verify-pack", "-v", *[str(p) for p in (repo / ".git" / "objects" / "pack").glob("*.idx")])
    r = Repo(str(repo))
    assert all(object_size(r, sha.encode()) == int(size) for sha, size in truth.items())
    assert object_size(r, b"1" * 40) is None


def test_recording_metrics_readers_would_not_read_back_is_refused(tmp_path, monkeypatch, capsys):
    import json

    import pfgit.store.read as read

    repo = make_flow_repo(tmp_path)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    (tmp_path / "m.json").write_text(json.dumps({f"m{i}": i for i in range(100)}))
    monkeypatch.setattr(read, "MAX_RECORD_BYTES", 1000)
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                             str(tmp_path / "out.jsonl"), "--metrics", str(tmp_path / "m.json"))
    assert code == 2 and "the run's metrics would be 1,283 bytes" in err, err
    assert git(repo, "for-each-ref", "refs/pfgit/") == ""


def test_runs_claiming_made_up_flow_paths_are_not_followed_through_history(tmp_path, monkeypatch, capsys):
    """Every flow path a run names is looked up in every commit of the history: a remote's 500
    runs naming 500 made-up paths made the next runs command take 10 s on a 500-commit repository
    (quadratic: hours on a big one). A path is followed only when it is a flow folder at a commit
    a run claims for it."""
    import json

    from dulwich.repo import Repo

    from pfgit.index.db import open_index

    repo = make_flow_repo(tmp_path)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--name", "good")
    assert code == 0, err
    head = git(repo, "rev-parse", "HEAD")
    claims = [("made-up", head), ("flow/sub", head), (".git", head), ("flow", "1" * 40), ("flow", "x")]
    for i, (path, commit) in enumerate(claims):
        run = {"name": f"r{i}", "flow": {"path": path, "commit": commit, "tree": "0" * 40},
               "status": "Completed", "lines": {}}
        _hostile_run(repo, f"r{i}", json.dumps(run).encode(), f"pfgit run r{i}\n\nPfgit-Run: "
                     f"{json.dumps(run)}\nPfgit-Metrics: {{}}\n".encode())
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert code == 0 and len(json.loads(out)["runs"]) == 6, err
    idx = open_index(Repo(str(repo)), refresh=False)
    try:
        assert idx.tracked_paths() == ["flow"]
    finally:
        idx.close()
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "flow")
    assert code == 0 and "good" in out, out + err


def test_names_printed_at_a_line_start_cannot_be_ci_workflow_commands(tmp_path, monkeypatch, capsys):
    """GitHub Actions takes a line starting with `::` for a command, Azure Pipelines `##[` at a
    line's start and `##vso[` anywhere: a flow folder named `::add-mask::...` or
    `##vso[task.setvariable variable=X]...` (a pull request) or a metric named so (a fetched run)
    was printed at a line's start by `pfgit validate` and `pfgit metrics diff`, so the CI runner
    obeyed it. pfgit's own annotations (`--format github`) still are commands."""
    import json
    import shutil

    repo = make_flow_repo(tmp_path)
    for folder in ("::add-mask::x", "##vso[task.setvariable variable=X]y"):
        shutil.copytree(repo / "flow", repo / folder)
        (repo / folder / "flow.dag.yaml").write_text(FLOW + "- bad\n")
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    for name, value in (("r1", 0.5), ("r2", 0.7)):
        (tmp_path / "m.json").write_text(json.dumps({"::stop-commands::t": value, "##[group]g": 1}))
        code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                               str(tmp_path / "out.jsonl"), "--metrics", str(tmp_path / "m.json"),
                               "--name", name)
        assert code == 0, err
    for argv in (["validate"], ["metrics", "diff", "r1", "r2"], ["runs", "show", "r1", "--metrics"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        lines = (out + err).splitlines()
        assert not any(ln.lstrip().startswith(("::", "##[")) or "##vso[" in ln.lower() for ln in lines), (argv, out)
        assert "\\u003a:add-mask::x" in out + err or argv[0] != "validate", out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "validate", "--format", "github")
    lines = out.splitlines()
    assert lines and all(ln.startswith("::error file=") for ln in lines) and "##vso[" not in out, out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "r1", "--json")
    assert json.loads(out)["run"]["metrics"]["::stop-commands::t"] == 0.5   # JSON keeps the value


def test_a_nul_in_a_source_path_is_a_missing_file_not_an_internal_error(tmp_path, monkeypatch, capsys):
    """YAML's "\\0" puts a NUL in `source.path`: os.open raises ValueError, and `pfgit diff` (and
    `pfgit test`) of a pull request holding it was `internal error: ValueError: embedded null
    byte` for every flow of the repository."""
    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "flow.dag.yaml").write_text(FLOW.replace("path: echo.py", 'path: "ec\\0ho.py"'))
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff")
    assert code == 0 and 'source.path: echo.py -> "ec\\0ho.py"' in out and err == "", err
    code, out, err = run_cli(monkeypatch, capsys, repo, "validate", "flow")
    assert code == 1 and "missing-source" in out, out + err
    code, out, err = run_cli(monkeypatch, capsys, repo, "test", "--flow", "flow", "--inputs", "q=1",
                             "--engine", "builtin")
    assert code == 2 and "internal error" not in err and err.count("\n") == 1, err


def test_a_source_path_naming_a_folder_is_an_error(tmp_path, monkeypatch, capsys):
    """`source.path: .` (or `..`, `echo.py/..`) named a folder: validate said nothing, promptflow
    fails to load the node."""
    repo = make_flow_repo(tmp_path)
    for path, shown in ((".", "flow"), ("..", "."), ("echo.py/..", "flow")):
        (repo / "flow" / "flow.dag.yaml").write_text(FLOW.replace("path: echo.py", f"path: {path}"))
        code, out, err = run_cli(monkeypatch, capsys, repo, "validate", "flow")
        assert code == 1 and f"unreadable-file [echo] '{shown}' is a folder, not a file" in out, out + err


def test_install_with_a_gitattributes_folder_or_latin1_bytes_is_clean(tmp_path, monkeypatch, capsys):
    """A pull request's `.gitattributes/x` (a folder) or Latin-1 `.gitattributes` made `pfgit
    install` an internal error (IsADirectoryError, UnicodeDecodeError)."""
    repo = make_flow_repo(tmp_path)
    (repo / ".gitattributes").mkdir()
    code, out, err = run_cli(monkeypatch, capsys, repo, "install")
    assert code == 2 and err.endswith(".gitattributes: is a folder, not a file: git does not read it\n"), err
    (repo / ".gitattributes").rmdir()
    raw = b"caf\xe9.txt -diff\r\n"
    (repo / ".gitattributes").write_bytes(raw)
    code, out, err = run_cli(monkeypatch, capsys, repo, "install")
    assert code == 0, err
    assert (repo / ".gitattributes").read_bytes().startswith(raw)
    code, out, err = run_cli(monkeypatch, capsys, repo, "install", "--uninstall")
    assert code == 0 and (repo / ".gitattributes").read_bytes() == raw, err


def test_diff_judges_a_huge_file_by_its_size_and_blob_id_without_reading_it(tmp_path, monkeypatch, capsys):
    """A pull request can add a 4 GB file of zeros that git stores in 4 MB: `pfgit diff` read
    both sides whole (300 MB took 616 MB). Past 64 MB a file is shown by size and git blob id."""
    import pfgit.diff.tree as tree

    monkeypatch.setattr(tree, "MAX_DIFF_FILE_BYTES", 1000, raising=False)
    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "data.bin").write_bytes(b"\0" * 5000)
    (repo / "flow" / "same.bin").write_bytes(b"\1" * 5000)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "big")
    (repo / "flow" / "data.bin").write_bytes(b"\0" * 5001)
    old, new = git(repo, "rev-parse", "HEAD:flow/data.bin"), git(repo, "hash-object", "flow/data.bin")
    read = []
    for cls in (tree.FolderFiles,):
        orig = cls.get

        def spy(self, rel, default=None, orig=orig):
            v = orig(self, rel, default)
            read.append((rel, len(v or b"")))
            return v
        monkeypatch.setattr(cls, "get", spy)
    for argv in (["diff"], ["diff", "HEAD~1", "HEAD"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0, err
        assert all(n < 1000 for rel, n in read if rel.endswith(".bin")), read
        assert "same.bin" not in out or argv != ["diff"]
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff")
    assert f"-(a file of 5,000 bytes, git blob {old}" in out and f"+(a file of 5,001 bytes, git blob {new}" in out, out


def test_a_run_tree_holding_a_huge_file_is_refused_before_it_is_inflated(tmp_path, monkeypatch, capsys):
    """A fetched run's flow tree may hold a 4 GB file git stores in 4 MB: `checkout-run` and
    `export-zip --run` inflated every file whole first; the zip limits now apply to the headers."""
    import pfgit.integrate.studio.safezip as safezip

    monkeypatch.setattr(safezip, "DEFAULT_LIMITS", safezip.Limits(max_entry=1000, max_total=3000))
    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "data.bin").write_bytes(b"\0" * 5000)
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "a": "x"}\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--name", "big")
    assert code == 0, err
    for argv in (["checkout-run", "big", str(tmp_path / "co")],
                 ["export-zip", "--run", "big", "-o", str(tmp_path / "b.zip")]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and "flow tree too big: 'data.bin' holds 5,000 bytes" in err, (argv, err)
        assert not (tmp_path / "co").exists() and not (tmp_path / "b.zip").exists()


def test_an_unchanged_symlink_in_a_flow_folder_is_no_change(tmp_path, monkeypatch, capsys):
    """The worktree side read through a symbolic link while the commit holds the path it names:
    every `pfgit diff` of a clean checkout showed a linked source (`n1.py -> ../shared/u.py`) or
    a link out of the repository as changed. A link is the path it names on both sides, as git
    shows it; re-pointing it is a change."""
    import os

    repo = make_flow_repo(tmp_path)
    (repo / "shared").mkdir()
    (repo / "shared" / "echo.py").write_text((repo / "flow" / "echo.py").read_text())
    (repo / "flow" / "echo.py").unlink()
    os.symlink("../shared/echo.py", repo / "flow" / "echo.py")
    os.symlink(str(tmp_path / "elsewhere.txt"), repo / "flow" / "out.txt")
    (tmp_path / "elsewhere.txt").write_text("SECRET\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "links")
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff", "--exit-code")
    assert code == 0 and out == "", out + err
    os.unlink(repo / "flow" / "echo.py")
    os.symlink("../shared/other.py", repo / "flow" / "echo.py")
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff")
    assert "-../shared/echo.py" in out and "+../shared/other.py" in out and "SECRET" not in out, out

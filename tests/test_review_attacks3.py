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

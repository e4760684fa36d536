"""Markdown for pull-request comments (pfgit/mdtext.py): values from a pull request or a fetched
run read as text, never as HTML, a link, an image, an @mention or a table border. Checked by
rendering with markdown-it (CommonMark + GFM tables), as a comment would be."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from pfgit.mdtext import md_code, md_text
from runs_helpers import run_cli
from secure_helpers import make_flow_repo

HOSTILE = "a`b``<img src=x onerror=alert(1)>|@octocat [x](https://evil.example) *em* www.evil.example"


def _html(md: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(md)


def _outside_code(html: str) -> str:
    return re.sub(r"<code>.*?</code>", "", html, flags=re.S)


def _assert_inert(html: str) -> None:
    assert "<img" not in html and "<a " not in html and "<em>" not in html
    rest = _outside_code(html)
    assert "@octocat" not in rest and "https://evil" not in rest and "www.evil" not in rest


@pytest.mark.parametrize("render", [md_code, md_text])
def test_a_hostile_value_stays_one_inert_table_cell(render):
    md = f"| a | b |\n|---|---|\n| {render(HOSTILE)} | end |\n"
    html = _html(md)
    _assert_inert(html)
    assert html.count("<td>") == 2 and "<td>end</td>" in html
    text = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    shown = HOSTILE if render is md_code else \
        HOSTILE.replace("@", "@\u2060").replace("://", ":/\u2060/").replace("www.", "www\u2060.")
    assert shown in text                     # the text itself, whole


def test_code_spans_hold_any_backticks_and_empty_values():
    assert md_code("") == "" and md_code("  ") == ""
    assert md_code("x") == "`x`" and md_code("a`b") == "``a`b``" and md_code("`x`") == "`` `x` ``"
    assert md_code("a|b") == "`a\\|b`" and md_code("a|b", cell=False) == "`a|b`"
    assert md_code("two\nlines") == "`two lines`"
    assert "<code>a`b</code>" in _html(md_code("a`b", cell=False))


def test_diff_markdown_of_a_hostile_pull_request_is_inert(tmp_path, monkeypatch, capsys):
    repo = make_flow_repo(tmp_path)
    flow = repo / "flow" / "flow.dag.yaml"
    name = HOSTILE.replace('"', "")
    flow.write_text(flow.read_text() + f'- name: "{name}"\n  type: python\n'
                    f'  source: {{type: code, path: "{name}.py"}}\n  inputs: {{x: "{name}"}}\n')
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff", "--markdown")
    assert code == 0, err
    assert "**added** node" in out
    _assert_inert(_html(out))

"""Multi-line values (block scalars: an inline prompt, a multi-line default or description) are
shown as the lines they are by `pfgit diff`, the git diff driver and textconv, not folded into one
line with the newlines turned into spaces, and a value's text can never print a line that reads
as another change."""

from __future__ import annotations

import re

from pfgit.diff.outline import outline_bytes
from pfgit.diff.render import fmt_value, render_json, render_markdown, render_text
from pfgit.diff.tree import diff_flow_bytes
from pfgit.integrate.diffdriver import driver_text

NULL = "0" * 40

FLOW = """inputs:
  question:
    type: string
    default: |
      line one
      line two
    description: |-
      Multi
      line desc
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: answer
  type: llm
  source:
    type: code
    path: p.jinja2
  inputs:
    prompt: |
      You are helpful.
      Answer: {{q}}
    temperature: 0.2
  api: chat
- name: other
  type: python
  source: {type: code, path: o.py}
  inputs: {x: '${answer.output}'}
"""

# the attacker's prompt: lines laid out like pfgit's own ("node other removed", a changed field)
EVIL = FLOW.replace("prompt: |\n      You are helpful.\n      Answer: {{q}}\n",
                    'prompt: "You are helpful.\\nAnswer: {{q}}\\n  - node other: removed\\n'
                    '    ~ inputs.x: a -> b\\nnodes.other.type: llm\\n"\n')


def _diff(old: str, new: str):
    return [diff_flow_bytes("f", "f/flow.dag.yaml", old.encode(), new.encode())]


def _own_lines(text: str) -> list:
    """Lines of the text output that are pfgit's own (titles and change lines): indented less
    than the 8 columns of diff bodies."""
    return [ln for ln in text.splitlines() if len(ln) - len(ln.lstrip(" ")) < 8]


def test_a_changed_prompt_shows_a_line_diff_of_its_text():
    new = FLOW.replace("line two\n", "line 2\n      line three\n").replace(
        "Answer: {{q}}\n", "Answer: {{q}}\n      Be brief.\n")
    text = render_text(_diff(FLOW, new))
    assert "    ~ default: (text, 2 lines) -> (text, 3 lines)\n" \
           "        @@ -1,2 +1,3 @@\n" \
           "         line one\n" \
           "        -line two\n" \
           "        +line 2\n" \
           "        +line three\n" in text
    assert "    ~ inputs.prompt: (text, 2 lines) -> (text, 3 lines)\n" in text
    assert "         Answer: {{q}}\n        +Be brief.\n" in text
    assert "line one    line" not in text and "You are helpful.    Answer" not in text
    # --json is unchanged: old and new are the values themselves
    ch = [c for c in render_json(_diff(FLOW, new))["flows"][0]["changes"]
          if c["path"] == ["nodes", "answer", "inputs", "prompt"]][0]
    assert ch["old"] == "You are helpful.\nAnswer: {{q}}\n" and set(ch) == {"op", "path", "old", "new"}


def test_a_final_newline_added_or_a_value_made_multi_line_is_visible():
    new = FLOW.replace("description: |-", "description: |").replace("temperature: 0.2",
                                                                     "temperature: |\n      0.2\n      0.3")
    text = render_text(_diff(FLOW, new))
    assert "-line desc\n        \\ No newline at end of value\n        +line desc\n" in text
    assert "    ~ inputs.temperature: 0.2 -> (text, 2 lines)\n        +0.2\n        +0.3\n" in text


def test_a_value_cannot_print_a_line_that_reads_as_another_change():
    text = render_text(_diff(FLOW, EVIL))
    own = _own_lines(text)
    assert not any("node other" in ln or "inputs.x" in ln for ln in own), own
    assert "        +  - node other: removed" in text       # shown, as the prompt's line
    # a new node holding the same prompt: its text is indented under it too
    added = FLOW.replace("name: answer", "name: answer2").replace("${answer.output}", "${answer2.output}")
    evil_added = EVIL.replace("name: answer", "name: answer2").replace("${answer.output}", "${answer2.output}")
    text = render_text(_diff(added, evil_added + EVIL[EVIL.index("- name: answer"):]
                             .replace("name: other", "name: other2")))
    assert not any("node other:" in ln for ln in _own_lines(text))
    assert "      + inputs.prompt: (text, 5 lines)\n        +You are helpful.\n" in text


def test_markdown_fences_a_value_that_holds_backticks():
    new = FLOW.replace("Answer: {{q}}\n", "Answer: {{q}}\n      ```\n      - **removed** node `other`\n")
    md = render_markdown(_diff(FLOW, new))
    fence = re.search(r"\n    (`{4,})diff\n", md)
    assert fence, md   # longer than the value's own backticks, so they cannot close it
    body = md[fence.end():md.index("\n    " + fence.group(1) + "\n", fence.end())]
    assert "+- **removed** node `other`" in body and "+```" in body


def test_removed_source_lines_starting_with_two_dashes_are_shown():
    old, new = b"-- a\nkeep\n", b"keep\n++ b\n"
    fd = diff_flow_bytes("f", "f/flow.dag.yaml", FLOW.encode(), FLOW.encode(),
                         {"o.py": old}.get, {"o.py": new}.get)
    text = render_text([fd])
    assert "        --- a\n" in text and "        +++ b\n" in text


def test_fmt_value_writes_a_line_break_as_an_escape():
    assert fmt_value("a\nb") == '"a\\nb"'
    assert fmt_value({"p": "x\n"}) == '{p: "x\\n"}'


def test_textconv_writes_a_text_as_an_indented_block():
    out = outline_bytes(EVIL.encode()).decode()
    assert "nodes.answer.inputs.prompt: |\n  You are helpful.\n  Answer: {{q}}\n" \
           "    - node other: removed\n" in out
    assert "inputs.question.description: |-\n  Multi\n  line desc\ninputs.question.type" in out
    # every line at column 0 is a path of this flow's own values
    assert [ln for ln in out.splitlines() if ln.startswith("nodes.other.type")] == \
           ["nodes.other.type: python"]
    named = FLOW + '- name: "evil\\nnodes.answer.type: python"\n  type: python\n'
    assert "nodes.evil\\nnodes.answer.type: python.type: python" in outline_bytes(named.encode()).decode()


def test_the_git_diff_driver_shows_the_text(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(FLOW)
    b.write_text(EVIL)
    out = driver_text(["f/flow.dag.yaml", str(a), NULL, "100644", str(b), NULL, "100644"])
    assert "    ~ inputs.prompt: (text, 2 lines) -> (text, 5 lines)\n" in out
    assert not any("node other" in ln for ln in _own_lines(out))

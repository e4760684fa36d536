"""One defect at a time in copies of real corpus flows: every problem code, with its node and line.

Each case copies a corpus flow into tmp_path, makes one edit, and expects exactly one problem:
the code, the node it is on, the file and the 1-based line (found by a marker string in the
edited file, so the expectation reads like the defect).
"""

from __future__ import annotations

import os
import shutil

import pytest

from pfgit.flow.readers import DirReader
from pfgit.validate import CODES, validate_path

WC = "examples/flows/standard/web-classification"
IFELSE = "examples/flows/standard/conditional-flow-for-if-else"
ACC = "examples/flows/evaluation/eval-classification-accuracy"
INCL = "examples/flows/standard/flow-with-additional-includes"
FLEX = "examples/flex-flows/basic"
PROMPTY = "examples/prompty/basic"
CHATB = "examples/flows/chat/chat-basic"
BASIC = "examples/flows/standard/basic"
BASIC_CONN = "examples/flows/standard/basic-with-connection"
DAG = "flow.dag.yaml"

EXTRA_NODE = """\
- name: report
  type: python
  source:
    type: code
    path: grade.py
  inputs:
    groundtruth: ${calculate_accuracy.output}
    prediction: ${inputs.prediction}
environment:
"""
UNUSED_VARIANTS = """\
  prepare_examples:
    default_variant_id: v0
    variants:
      v0:
        node:
          type: python
          source:
            type: code
            path: prepare_examples.py
          inputs: {}
"""
DUP_NODE = """\
- name: convert_to_dict
  type: python
  source:
    type: code
    path: convert_to_dict.py
  inputs:
    input_str: ${classify_with_llm.output}
node_variants:
"""


def replace(old, new, file=DAG):
    def edit(d):
        p = os.path.join(d, file)
        text = open(p, encoding="utf-8").read()
        assert text.count(old) == 1, f"{old!r} must occur once in {file}"
        open(p, "w", encoding="utf-8").write(text.replace(old, new))
    return edit


def truncate_at(marker, file=DAG):
    def edit(d):
        p = os.path.join(d, file)
        text = open(p, encoding="utf-8").read()
        open(p, "w", encoding="utf-8").write(text[: text.index(marker)])
    return edit


def remove(file):
    return lambda d: os.remove(os.path.join(d, file))


def write(file, data):
    def edit(d):
        with open(os.path.join(d, file), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
    return edit


def symlink_loop(file):
    def edit(d):
        p = os.path.join(d, file)
        os.remove(p)
        os.symlink(os.path.basename(file), p)  # points at itself
    return edit


def strip_front_matter(file):
    def edit(d):
        p = os.path.join(d, file)
        text = open(p, encoding="utf-8").read()
        open(p, "w", encoding="utf-8").write(text.split("---", 2)[2].lstrip("\n"))
    return edit


# id: (flow, edit, code, node, file the problem is in, marker of the line | line number)
CASES = {
    "yaml-syntax": (WC, replace("  connection: open_ai_connection\n  api: chat\n- name: convert",
                                "  connection: open_ai: connection\n  api: chat\n- name: convert"),
                    "yaml-syntax", None, DAG, "open_ai: connection"),
    "bad-encoding": (WC, replace("open_ai_connection\n  api: chat\n- name: convert",
                                 "open_ai_\udcffconnection\n  api: chat\n- name: convert"),
                     "bad-encoding", None, DAG, 44),
    "empty-file": (WC, write(DAG, "# nothing yet\n\n"), "empty-file", None, DAG, 1),
    "not-a-mapping": (WC, write(DAG, "- name: a\n- name: b\n"), "not-a-mapping", None, DAG, 1),
    "file-too-large": (WC, write(DAG, b"# padding\n" * 1_100_000), "file-too-large", None, DAG, 1),
    "unreadable-file": (WC, symlink_loop(DAG), "unreadable-file", None, DAG, 1),
    "duplicate-key": (WC, replace("  api: chat\n- name: convert_to_dict",
                                  "  api: chat\n  api: completion\n- name: convert_to_dict"),
                      "duplicate-key", "classify_with_llm", DAG, "api: completion"),
    "unknown-key": (WC, replace("  api: chat\n- name: convert", "  api: chat\n  temprature: 0.5\n"
                                "- name: convert"), "unknown-key", "classify_with_llm", DAG, "temprature"),
    "bad-type": (WC, replace("  inputs: {}", "  inputs: []"), "bad-type", "prepare_examples", DAG,
                 "inputs: []"),
    "bad-value": (WC, replace("  type: llm\n  source:\n    type: code\n    path: classify",
                              "  type: lmm\n  source:\n    type: code\n    path: classify"),
                  "bad-value", "classify_with_llm", DAG, "type: lmm"),
    "missing-key": (WC, replace("  url:\n    type: string\n", "  url:\n"), "missing-key", None, DAG,
                    "  url:"),
    "duplicate-node": (WC, replace("node_variants:\n", DUP_NODE), "duplicate-node", "convert_to_dict",
                       DAG, ("- name: convert_to_dict", 1)),
    "multiple-flow-files": (WC, write("flow.flex.yaml", "entry: flow:main\n"), "multiple-flow-files",
                            None, DAG, 1),
    "dangling-ref": (WC, replace("${classify_with_llm.output}", "${clasify_with_llm.output}"),
                     "dangling-ref", "convert_to_dict", DAG, "clasify_with_llm"),
    "unknown-input": (WC, replace("    url: ${inputs.url}\n    text_content",
                                  "    url: ${inputs.uri}\n    text_content"),
                      "unknown-input", "classify_with_llm", DAG, "inputs.uri"),
    "bad-ref-section": (WC, replace("${prepare_examples.output}", "${prepare_examples.outputs}"),
                        "bad-ref-section", "classify_with_llm", DAG, "prepare_examples.outputs"),
    "output-ref-section": (WC, replace("${convert_to_dict.output.evidence}",
                                       "${convert_to_dict.outputs.evidence}"),
                           "output-ref-section", None, DAG, "outputs.evidence"),
    "empty-output-ref": (WC, replace("    reference: ${convert_to_dict.output.evidence}\n", ""),
                         "empty-output-ref", None, DAG, "  evidence:"),
    "embedded-ref": (WC, replace("input_str: ${classify_with_llm.output}",
                                 "input_str: result ${classify_with_llm.output}"),
                     "embedded-ref", "convert_to_dict", DAG, "input_str:"),
    "cycle": (IFELSE, replace("    text: ${inputs.question}", "    text: ${generate_result.output}"),
              "cycle", "content_safety_check", DAG, "text: ${generate_result.output}"),
    "missing-source": (WC, remove("convert_to_dict.py"), "missing-source", "convert_to_dict", DAG,
                       "path: convert_to_dict.py"),
    "missing-include": (INCL, replace("additional_includes:\n",
                                      "additional_includes:\n- ../web-classification/extra.py\n"),
                        "missing-include", None, DAG, "extra.py"),
    "path-outside-repo": (INCL, replace("additional_includes:\n",
                                        "additional_includes:\n- ../../../../../../etc/passwd\n"),
                          "path-outside-repo", None, DAG, "etc/passwd"),
    "conflict-markers": (WC, replace("{% endfor %}", "{% endfor %}\n<<<<<<< ours\nShort.\n=======\n"
                                     "Long.\n>>>>>>> theirs", "classify_with_llm.jinja2"),
                         "conflict-markers", None, "classify_with_llm.jinja2", "<<<<<<< ours"),
    "python-syntax": (WC, replace("    try:\n", "    try\n", "convert_to_dict.py"), "python-syntax",
                      "convert_to_dict", "convert_to_dict.py", "    try"),
    "jinja-syntax": (WC, replace("{% endfor %}", "{% endfro %}", "classify_with_llm.jinja2"),
                     "jinja-syntax", "classify_with_llm", "classify_with_llm.jinja2", "endfro"),
    "tool-count": (WC, replace("@tool\n", "", "convert_to_dict.py"), "tool-count", "convert_to_dict",
                   "convert_to_dict.py", 1),
    "unknown-tool-input": (WC, replace("    input_str: ${classify_with_llm.output}\n",
                                       "    input_str: ${classify_with_llm.output}\n    strict: true\n"),
                           "unknown-tool-input", "convert_to_dict", DAG, "strict: true"),
    "missing-tool-input": (WC, replace("  inputs:\n    input_str: ${classify_with_llm.output}\n", ""),
                           "missing-tool-input", "convert_to_dict", DAG, "- name: convert_to_dict"),
    "unknown-default-variant": (WC, replace("default_variant_id: variant_0",
                                            "default_variant_id: variant_9"),
                                "unknown-default-variant", "summarize_text_content", DAG, "variant_9"),
    "missing-variants": (WC, truncate_at("node_variants:"), "missing-variants",
                         "summarize_text_content", DAG, "use_variants: true"),
    "unused-variants": (WC, lambda d: open(os.path.join(d, DAG), "a").write(UNUSED_VARIANTS),
                        "unused-variants", "prepare_examples", DAG, "  prepare_examples:"),
    "aggregation-ref": (ACC, replace("environment:\n", EXTRA_NODE), "aggregation-ref", "report", DAG,
                        "${calculate_accuracy.output}"),
    "aggregation-activate": (ACC, replace("  aggregation: true\n", "  aggregation: true\n  activate:\n"
                                          "    when: ${grade.output}\n    is: APP\n"),
                             "aggregation-activate", "calculate_accuracy", DAG, "when: ${grade"),
    "output-aggregation-ref": (ACC, replace("reference: ${grade.output}",
                                            "reference: ${calculate_accuracy.output}"),
                               "output-aggregation-ref", None, DAG, "reference:"),
    "activate-incomplete": (IFELSE, replace("    is: true\n", ""), "activate-incomplete", "llm_result",
                            DAG, ("  activate:", 0)),
    "missing-entry": (FLEX, replace("entry: programmer:write_simple_program\n", "", "flow.flex.yaml"),
                      "missing-entry", None, "flow.flex.yaml", 1),
    "bad-entry": (FLEX, replace("programmer:write_simple_program", "programmer.write_simple_program",
                                "flow.flex.yaml"), "bad-entry", None, "flow.flex.yaml", "entry:"),
    "missing-entry-file": (FLEX, remove("programmer.py"), "missing-entry-file", None, "flow.flex.yaml",
                           "entry:"),
    "missing-entry-function": (FLEX, replace("programmer:write_simple_program",
                                             "programmer:write_program", "flow.flex.yaml"),
                               "missing-entry-function", None, "flow.flex.yaml", "entry:"),
    "code-outside-flow": (FLEX, replace("entry: programmer:write_simple_program\n",
                                        "entry: programmer:write_simple_program\ncode: ../basic\n",
                                        "flow.flex.yaml"), "code-outside-flow", None, "flow.flex.yaml",
                          "code: ../basic"),
    "missing-front-matter": (PROMPTY, strip_front_matter("basic.prompty"), "missing-front-matter",
                             None, "basic.prompty", 1),
    "conflict-markers": (WC, replace("{% endfor %}", "{% endfor %}\n<<<<<<< HEAD\nA\n=======\nB\n"
                                     ">>>>>>> feature", "classify_with_llm.jinja2"), "conflict-markers",
                         None, "classify_with_llm.jinja2", "<<<<<<< HEAD"),
}


def both(*edits):
    def edit(d):
        for e in edits:
            e(d)
    return edit


def append(file, text):
    return lambda d: open(os.path.join(d, file), "a", encoding="utf-8").write(text)


ASSISTANT_NODE = """\
- name: assistant
  type: python
  source:
    type: code
    path: assistant.py
  inputs:
    question: ${inputs.text}
    assistant_definition: assistant_definition.yaml
"""
ASSISTANT_PY = ("from promptflow.core import tool\nfrom promptflow.contracts.types import "
                "AssistantDefinition\n\n\n@tool\ndef run(question: str, assistant_definition: "
                "AssistantDefinition):\n    return question\n")
# no corpus flow has an assistant node: this one is added to `basic`, its tool file misspelled
CASES["bad-assistant-definition"] = (
    BASIC, both(append(DAG, ASSISTANT_NODE),
                write("assistant.py", ASSISTANT_PY),
                write("assistant_definition.yaml", "model: gpt-4\ntools:\n- type: function\n"
                      "  tool_type: python\n  source:\n    type: code\n    path: helo.py\n")),
    "bad-assistant-definition", "assistant", "assistant_definition.yaml", "path: helo.py")
CASES["multiple-chat-io"] = (
    CHATB, replace("    is_chat_output: true\n", "    is_chat_output: true\n  again:\n    type: string\n"
                   "    reference: ${chat.output}\n    is_chat_output: true\n"),
    "multiple-chat-io", None, DAG, ("is_chat_output: true", 1))
CASES["missing-chat-output"] = (CHATB, replace("    is_chat_output: true\n", ""),
                                "missing-chat-output", None, DAG, "is_chat_input: true")
CASES["reserved-prompt-input"] = (BASIC, append("hello.jinja2", "\nUse {{template}}.\n"),
                                  "reserved-prompt-input", "hello_prompt", DAG, "path: hello.jinja2")
CASES["missing-connection"] = (
    BASIC_CONN, both(replace("    connection: basic_custom_connection\n", ""),
                     replace("    connection: Union[CustomConnection, AzureOpenAIConnection] = None,\n",
                             "    *,\n    connection: Union[CustomConnection, AzureOpenAIConnection],\n",
                             "hello.py")),
    "missing-connection", "llm", DAG, ("  inputs:", 1))
CASES["unknown-flex-key"] = (FLEX, append("flow.flex.yaml", "nodes: []\n"), "unknown-flex-key", None,
                             "flow.flex.yaml", "nodes: []")
CASES["complex-entry-type"] = (FLEX, replace('text: str = "Hello World!"', 'text: object = "Hello World!"',
                                             "programmer.py"),
                               "complex-entry-type", None, "programmer.py", "text: object")


def test_every_code_has_a_defect_case():
    assert set(CODES) == {c[2] for c in CASES.values()}


def copy_flow(corpus, tmp_path, rel: str) -> str:
    dst = tmp_path / rel
    shutil.copytree(corpus / rel, dst)
    if rel == INCL:  # its sources come from the sibling flow via additional_includes
        shutil.copytree(corpus / WC, tmp_path / WC)
    for d, dirs, files in os.walk(tmp_path):
        for n in dirs + files:
            os.chmod(os.path.join(d, n), 0o755 if n in dirs else 0o644)
    return str(dst)


def line_of(path: str, marker) -> int:
    if isinstance(marker, int):
        return marker
    text, nth = (marker, 0) if isinstance(marker, str) else marker
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        hits = [i + 1 for i, line in enumerate(f) if text in line]
    assert hits, f"marker {text!r} not in {path}"
    return hits[nth] if isinstance(marker, tuple) else hits[0]


def problems_of(tmp_path, rel):
    return [p for r in validate_path(DirReader(str(tmp_path), ""), rel) for p in r.problems]


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_defect_one_problem(corpus, tmp_path, case):
    flow, edit, code, node, file, marker = CASES[case]
    d = copy_flow(corpus, tmp_path, flow)
    assert problems_of(tmp_path, flow) == [], "the corpus flow itself must be clean"
    if case == "bad-encoding":  # write the bad byte itself (the str edit cannot)
        p = os.path.join(d, DAG)
        data = open(p, "rb").read().replace(b"open_ai_connection\n  api: chat\n- name: convert",
                                            b"open_ai_\xffconnection\n  api: chat\n- name: convert")
        open(p, "wb").write(data)
    else:
        edit(d)
    probs = problems_of(tmp_path, flow)
    assert [p.code for p in probs] == [code], [f"{p.line}: {p.code} {p.message}" for p in probs]
    p = probs[0]
    assert p.severity == CODES[code][0]
    assert p.node == node
    assert p.file == f"{flow}/{file}"
    path = os.path.join(d, file)
    assert p.line == (line_of(path, marker) if not isinstance(marker, int) else marker)
    assert p.message and "\n" not in p.message

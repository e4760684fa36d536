"""Checks promptflow's own test suite expects, each on a flow the test writes.

Every rule cites the promptflow code and test fixture it comes from (microsoft/promptflow,
src/promptflow/tests/test_configs/...); test_validate_pf_fixtures.py runs pfgit over those
fixtures when a checkout is at hand.
"""

from __future__ import annotations

import os

from pfgit.flow.readers import DirReader
from pfgit.validate import validate_path

TOOL = "from promptflow.core import tool\n\n\n@tool\ndef upper(text: str) -> str:\n    return text.upper()\n"


def write(root, files: dict) -> str:
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return str(root)


def problems(root, rel="."):
    return [(p.code, p.severity, os.path.basename(p.file), p.line, p.node)
            for r in validate_path(DirReader(str(root)), rel) for p in r.problems]


def codes(root):
    return [p[0] for p in problems(root)]


# -- chat flows: _utils/flow_utils.py::is_executable_chat_flow ---------------------------------

CHAT = """\
inputs:
  chat_history:
    type: list
  question:
    type: string
    is_chat_input: true
  topic:
    type: string{topic}
outputs:
  answer:
    type: string
    reference: ${{upper.output}}{answer}
  again:
    type: string
    reference: ${{upper.output}}{again}
nodes:
- name: upper
  type: python
  source: {{type: code, path: upper.py}}
  inputs:
    text: ${{inputs.question}}
"""
FLAG_IN = "\n    is_chat_input: true"
FLAG_OUT = "\n    is_chat_output: true"


def chat_flow(tmp_path, topic="", answer=FLAG_OUT, again=""):
    return write(tmp_path, {"flow.dag.yaml": CHAT.format(topic=topic, answer=answer, again=again),
                            "upper.py": TOOL})


def test_chat_flow_with_one_chat_input_and_output_is_fine(tmp_path):
    assert problems(chat_flow(tmp_path)) == []


def test_chat_flow_two_chat_inputs_is_an_error(tmp_path):
    # "chat flow does not support multiple chat inputs"
    assert problems(chat_flow(tmp_path, topic=FLAG_IN)) == [
        ("multiple-chat-io", "error", "flow.dag.yaml", 9, None)]


def test_chat_flow_two_chat_outputs_is_an_error(tmp_path):
    # "chat flow does not support multiple chat outputs"
    assert problems(chat_flow(tmp_path, again=FLAG_OUT)) == [
        ("multiple-chat-io", "error", "flow.dag.yaml", 17, None)]


def test_chat_input_without_chat_output_is_a_warning(tmp_path):
    # "chat output is not configured": only the chat UI refuses it, batch runs work
    assert problems(chat_flow(tmp_path, answer="")) == [
        ("missing-chat-output", "warning", "flow.dag.yaml", 6, None)]


def test_flex_flow_chat_flags_are_checked_too(tmp_path):
    write(tmp_path, {"flow.flex.yaml": "entry: main:chat\ninputs:\n  q:\n    type: string\n"
                                       "    is_chat_input: true\n  r:\n    type: string\n"
                                       "    is_chat_input: true\n",
                     "main.py": "def chat(q: str, r: str) -> str:\n    return q\n"})
    assert codes(tmp_path) == ["multiple-chat-io"]


# -- assistant nodes: executor/_tool_resolver.py::_convert_to_assistant_definition -------------

ASSISTANT_FLOW = """\
inputs:
  question:
    type: string
nodes:
- name: assistant
  type: python
  source: {type: code, path: add_message_and_run.py}
  inputs:
    message: ${inputs.question}
    assistant_definition: assistant_definition.yaml
"""
ASSISTANT_PY = """\
from promptflow.core import tool
from promptflow.contracts.types import AssistantDefinition


@tool
def add_message_and_run(message: str, assistant_definition: AssistantDefinition):
    return message
"""
HELLO_PY = "from promptflow.core import tool\n\n\n@tool\ndef hello(name: str) -> str:\n    return name\n"


def assistant_flow(tmp_path, tools: str, extra: dict | None = None):
    files = {"flow.dag.yaml": ASSISTANT_FLOW, "add_message_and_run.py": ASSISTANT_PY,
             "assistant_definition.yaml": "model: gpt-4\ninstructions: Be brief.\ntools:\n" + tools}
    files.update(extra or {})
    return write(tmp_path, files)


def test_assistant_definition_with_valid_tools_is_fine(tmp_path):
    tools = ("  - type: code_interpreter\n  - type: function\n    source:\n      type: code\n"
             "      path: hello.py\n    tool_type: python\n  - type: function\n    source:\n"
             "      type: package\n      tool: my_pkg.tools.hello\n    tool_type: python\n")
    assert problems(assistant_flow(tmp_path, tools, {"hello.py": HELLO_PY})) == []


def test_assistant_definition_wrong_source_type(tmp_path):
    # fixture wrong_flows/assistant_package_tool_wrong_source_type:
    # "Tool source type 'package1' is not supported in assistant node 'assistant'."
    tools = ("  - type: code_interpreter\n  - type: function\n    source:\n      type: package1\n"
             "      tool: hello.world\n    tool_type: python\n")
    assert problems(assistant_flow(tmp_path, tools)) == [
        ("bad-assistant-definition", "error", "assistant_definition.yaml", 7, "assistant")]


def test_assistant_definition_python_tool_wrong_path(tmp_path):
    # fixture wrong_flows/assistant_python_tool_wrong_path: "Tool file './hello.py' can not be found."
    tools = ("  - type: function\n    source:\n      type: code\n      path: ./hello.py\n"
             "    tool_type: python\n")
    assert problems(assistant_flow(tmp_path, tools)) == [
        ("bad-assistant-definition", "error", "assistant_definition.yaml", 7, "assistant")]


def test_assistant_definition_bad_tool_type_and_tool_type(tmp_path):
    # _assistant_tool_invoker.py::AssistantToolResolver.from_dict: type among code_interpreter,
    # function, retrieval; tool_type 'python' only; a package source needs 'tool'
    tools = ("  - type: browser\n  - type: function\n    source:\n      type: package\n"
             "    tool_type: llm\n")
    found = problems(assistant_flow(tmp_path, tools))
    assert [(c, line) for c, _, _, line, _ in found] == [
        ("bad-assistant-definition", 4), ("bad-assistant-definition", 6),
        ("bad-assistant-definition", 8)]


def test_assistant_definition_file_missing(tmp_path):
    # _convert_to_assistant_definition: "Input 'assistant_definition' ... is not a valid path."
    d = assistant_flow(tmp_path, "  - type: code_interpreter\n")
    os.remove(os.path.join(d, "assistant_definition.yaml"))
    assert problems(d) == [("bad-assistant-definition", "error", "flow.dag.yaml", 10, "assistant")]


# -- prompt tool reserved names: executor/_tool_resolver.py::_resolve_prompt_node --------------

PROMPT_FLOW = """\
inputs:
  text:
    type: string
nodes:
- name: greet
  type: prompt
  source:
    type: code
    path: greet.jinja2
  inputs:
    text: ${inputs.text}
"""


def test_prompt_template_using_reserved_parameter_is_an_error(tmp_path):
    # fixture flows/prompt_tool_with_duplicated_inputs: "Invalid inputs {'template'} in prompt
    # template of node ... duplicated with the reserved parameters of prompt tool."
    write(tmp_path, {"flow.dag.yaml": PROMPT_FLOW, "greet.jinja2": "Hi {{text}} {{template}}\n"})
    assert problems(tmp_path) == [("reserved-prompt-input", "error", "flow.dag.yaml", 9, "greet")]


def test_prompt_template_mentioning_template_as_text_or_loop_variable_is_fine(tmp_path):
    write(tmp_path, {"flow.dag.yaml": PROMPT_FLOW,
                     "greet.jinja2": "Use this template: {{text}}\n"
                                     "{% for template in [1] %}{{ template }}{% endfor %}\n"})
    assert problems(tmp_path) == []


# -- flex flows: _sdk/schemas/_flow.py::FlexFlowSchema, _core/tool_meta_generator.py ---------

def test_flex_unknown_top_level_key_is_an_error(tmp_path):
    # eager_flows/invalid_extra_fields_nodes: load_flow raises "{'nodes': ['Unknown field.']}"
    write(tmp_path, {"flow.flex.yaml": "entry: main:run\nnodes: []\n",
                     "main.py": "def run(x: str) -> str:\n    return x\n"})
    assert problems(tmp_path) == [("unknown-flex-key", "error", "flow.flex.yaml", 2, None)]


def test_flex_unknown_input_key_is_an_error_but_dag_key_is_a_warning(tmp_path):
    write(tmp_path / "flex", {"flow.flex.yaml": "entry: main:run\ninputs:\n  x:\n    type: string\n"
                                                "    enum: [a, b]\n",
                              "main.py": "def run(x: str) -> str:\n    return x\n"})
    assert problems(tmp_path / "flex") == [("unknown-flex-key", "error", "flow.flex.yaml", 5, None)]
    write(tmp_path / "dag", {"flow.dag.yaml": PROMPT_FLOW + "owner: me\n", "greet.jinja2": "{{text}}"})
    assert codes(tmp_path / "dag") == ["unknown-key"]


ENTRY_TYPES = """\
from dataclasses import dataclass
from enum import Enum
from typing import Any, List, Optional, TypedDict, Union

from promptflow.connections import AzureOpenAIConnection, CustomConnection


class Color(str, Enum):
    RED = "red"


@dataclass
class Doc:
    text: str


class Out(TypedDict):
    answer: str
    doc: Doc


class Flow:
    def __init__(self, conn: AzureOpenAIConnection, doc: Doc, color: Color = Color.RED):
        self.conn = conn

    def __call__(self, q: str, n: int, k: Optional[float], tags: list, meta: dict,
                 any_: Any, items: List[str], alt: str | None, both: Union[str, int],
                 conns: Union[AzureOpenAIConnection, CustomConnection], untyped=1) -> Out:
        return {"answer": q}
"""


def test_flex_entry_complex_types_are_errors(tmp_path):
    # eager_flows/invalid_illegal_input_type + test_flow_entity.py::test_flex_flow_run_unsupported_types:
    # "The input 'func_input' is of a complex python type. Please use a dict instead."
    # checked against promptflow 1.x's generate_flow_meta_dict_by_object: it refuses exactly these
    # (one at a time: it stops at the first); the Enum, Optional[float], connections, a Union of
    # connections and the untyped parameter pass
    write(tmp_path, {"flow.flex.yaml": "entry: entry:Flow\n", "entry.py": ENTRY_TYPES})
    found = [(p.code, p.file.split("/")[-1], p.line, p.message.split("'")[3])
             for r in validate_path(DirReader(str(tmp_path)), ".") for p in r.problems]
    assert found == [("complex-entry-type", "entry.py", 19, "doc"),   # output field of Out
                     ("complex-entry-type", "entry.py", 23, "doc"),   # __init__ argument
                     ("complex-entry-type", "entry.py", 27, "any_"),
                     ("complex-entry-type", "entry.py", 27, "items"),
                     ("complex-entry-type", "entry.py", 27, "alt"),
                     ("complex-entry-type", "entry.py", 27, "both")]


def test_flex_entry_future_annotations_are_strings_to_promptflow(tmp_path):
    write(tmp_path, {"flow.flex.yaml": "entry: main:run\n",
                     "main.py": "from __future__ import annotations\n\n\ndef run(x: str) -> str:\n"
                                "    return x\n"})
    assert problems(tmp_path) == [("complex-entry-type", "error", "main.py", 4, None)]


def test_flex_csharp_entry_is_not_checked_as_python(tmp_path):
    # eager_flows/basic_dummy_csharp_flex_flow
    write(tmp_path, {"flow.flex.yaml": "language: csharp\n"
                                       "entry: (FlexFlowClassInit)FunctionModeBasic.MyEntry.HelloWorldAsync\n"})
    assert problems(tmp_path) == []
    write(tmp_path, {"flow.flex.yaml": "entry: (FlexFlowClassInit)FunctionModeBasic.MyEntry.Hello\n"})
    assert codes(tmp_path) == ["bad-entry"]


# -- connection parameters: flows/connection_not_provided runs with connections= at submission -

def test_connection_parameter_without_input_is_a_warning(tmp_path):
    write(tmp_path, {"flow.dag.yaml": "inputs:\n  key:\n    type: string\nnodes:\n- name: print_env\n"
                                      "  type: python\n  source: {type: code, path: print_env.py}\n"
                                      "  inputs:\n    key: ${inputs.key}\n",
                     "print_env.py": "from typing import Union\nfrom promptflow.core import tool\n"
                                     "from promptflow.connections import AzureOpenAIConnection, "
                                     "CustomConnection\n\n\n@tool\ndef get_env_var(key: str, "
                                     "connection: CustomConnection, other: Union[AzureOpenAIConnection,"
                                     " CustomConnection], plain: str):\n    return key\n"})
    assert [(c, s) for c, s, _, _, _ in problems(tmp_path)] == [
        ("missing-connection", "warning"), ("missing-connection", "warning"),
        ("missing-tool-input", "error")]


# -- use_variants: contracts/flow.py::_apply_default_node_variant; pf flow validate on
#    flows/web_classification_invalid reports "nodes.1.source.path: Meta file ... can not be found"

VARIANT_FLOW = """\
inputs:
  text:
    type: string
nodes:
- name: upper
  type: python
  source:
    type: code
    path: {own}
  inputs:
    text: ${{inputs.text}}
  use_variants: true
node_variants:
  upper:
    default_variant_id: v0
    variants:
      v0:
        node:
          type: python
          source:
            type: code
            path: upper.py
          inputs:
            text: ${{inputs.text}}
"""


def test_use_variants_node_own_source_must_exist(tmp_path):
    write(tmp_path, {"flow.dag.yaml": VARIANT_FLOW.format(own="gone.py"), "upper.py": TOOL})
    assert problems(tmp_path) == [("missing-source", "error", "flow.dag.yaml", 9, "upper")]


def test_use_variants_node_own_source_syntax_is_checked_but_not_its_inputs(tmp_path):
    write(tmp_path, {"flow.dag.yaml": VARIANT_FLOW.format(own="own.py"), "upper.py": TOOL,
                     "own.py": "from promptflow.core import tool\n\n\n@tool\ndef own(x: str):\n"
                               "    return x\n"})
    assert problems(tmp_path) == []  # its input 'text' is not a parameter: never run, not judged
    write(tmp_path, {"own.py": "def own(:\n"})
    assert problems(tmp_path) == [("python-syntax", "error", "own.py", 1, "upper")]


def test_llm_template_using_an_api_parameter_is_an_error(tmp_path):
    # fixture flows/llm_tool_with_duplicated_inputs: "Invalid inputs {'prompt'} in prompt template of
    # node ... duplicated with the parameters of AzureOpenAI.completion."
    flow = PROMPT_FLOW.replace("type: prompt", "type: llm\n  api: completion\n  connection: c")
    write(tmp_path, {"flow.dag.yaml": flow, "greet.jinja2": "{{text}} {{prompt}} {{question}}\n"})
    assert problems(tmp_path) == [("reserved-prompt-input", "error", "flow.dag.yaml", 11, "greet")]
    write(tmp_path, {"flow.dag.yaml": flow.replace("api: completion", "api: embedding")})
    assert problems(tmp_path) == []  # no known parameter list: not judged

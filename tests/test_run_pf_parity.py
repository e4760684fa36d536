"""Regression tests for differences from promptflow found by running promptflow's own test flows
(src/promptflow/tests/test_configs, examples) through both engines (docs/run.md, "Parity on
promptflow's own flows"). Each test writes the smallest flow showing the difference."""

from __future__ import annotations

import json

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit.cli.main import main
from pfgit.run.connections import ConnectionStore, from_mapping
from pfgit.run.errors import RunError
from pfgit.run.spec import RunSpec
from pfgit.run.testline import test_flow as run_test_line
from run_flows import write_flow

PRINTS = {
    "flow.dag.yaml": """\
inputs:
  x: {type: string}
outputs:
  y: {type: string, reference: "${say.output}"}
nodes:
- name: say
  type: python
  source: {type: code, path: say.py}
  inputs: {x: "${inputs.x}"}
""",
    "say.py": """\
from promptflow.core import tool


@tool
def say(x: str) -> str:
    print("tool says", x)
    return x + "!"
""",
}


def test_test_json_keeps_tool_prints_off_stdout(tmp_path, capsys):
    # promptflow's use_functions_with_chat_models prints in its tool: --json's stdout must parse
    flow = write_flow(tmp_path / "f", PRINTS)
    assert main(["test", "--flow", str(flow), "--inputs", "x=hi", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["outputs"] == {"y": "hi!"}
    assert "tool says hi" in cap.err


UNION = {
    "flow.dag.yaml": """\
inputs: {}
outputs:
  kind: {type: string, reference: "${which.output}"}
nodes:
- name: which
  type: python
  source: {type: code, path: which.py}
  inputs: {connection: CONN}
""",
    "which.py": """\
from typing import Union

from promptflow.connections import AzureOpenAIConnection, OpenAIConnection
from promptflow.core import tool


@tool
def which(connection: Union[AzureOpenAIConnection, OpenAIConnection]) -> str:
    return type(connection).__name__ + " " + str(connection.api_key)
""",
}


def _save(name, **fields):
    ConnectionStore().save(from_mapping({"name": name, **fields}))


def test_union_connection_parameter_gets_the_stored_type(tmp_path):
    # promptflow's eval-multi-turn-metrics: an open_ai connection for a
    # Union[AzureOpenAIConnection, OpenAIConnection] parameter is an OpenAIConnection (pfgit built
    # the first class of the Union and crashed on its missing api_base)
    _save("oai", type="open_ai", api_key="sk-1")
    _save("serp", type="serp", api_key="sk-2")
    files = dict(UNION, **{"flow.dag.yaml": UNION["flow.dag.yaml"].replace("CONN", "oai")})
    res = run_test_line(RunSpec(flow=str(write_flow(tmp_path / "ok", files)), engine="builtin"), {})
    assert res.error is None and res.outputs == {"kind": "OpenAIConnection sk-1"}
    files = dict(UNION, **{"flow.dag.yaml": UNION["flow.dag.yaml"].replace("CONN", "serp")})
    with pytest.raises(RunError, match=r"node 'which': connection 'serp' of type 'SerpConnection' is not "
                                       r"supported, valid types \['AzureOpenAIConnection', 'OpenAIConnection'\]"):
        run_test_line(RunSpec(flow=str(write_flow(tmp_path / "bad", files)), engine="builtin"), {})


PROMPTY = """\
---
name: env only
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o
inputs:
  question: {type: string}
  examples: {type: string}
sample:
  question: hi
---
user:
{{question}} {{examples}}
"""


def test_prompty_connection_from_env_and_missing_input(tmp_path, monkeypatch, fake_openai):
    # promptflow's flex-flows/*/chat.prompty: a configuration naming only the deployment builds
    # its connection from AZURE_OPENAI_ENDPOINT/AZURE_OPENAI_API_KEY, both required
    p = tmp_path / "p.prompty"
    p.write_text(PROMPTY)
    spec = RunSpec(flow=str(p), engine="builtin")
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    res = run_test_line(spec, {"question": "hi", "examples": "e"})
    assert res.error == {"type": "RequiredEnvironmentVariablesNotSetError", "node": "p", "message":
                         "Required environment variables ['AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_API_KEY'] "
                         "to build AzureOpenAIConnection not set."}
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_openai.root)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-env")
    res = run_test_line(spec, {"question": "hi", "examples": "e"})
    assert res.error is None and res.outputs == {"output": "echo: hi e"}
    assert fake_openai.requests[-1]["path"].startswith("/openai/deployments/gpt-4o/")
    # a required input not given: promptflow's InputNotFound (the sample stands in only for no
    # inputs at all, as in pf flow test)
    for given in ({"question": "hi"}, {}):
        res = run_test_line(spec, given)
        assert res.error == {"type": "InputNotFound", "node": None, "message": (
            "The input for flow is incorrect. The value for flow input 'examples' is not provided in input "
            "data. Please review your input data or remove this input in your flow if it's no longer needed.")}


FLEX = {
    "flow.flex.yaml": """\
entry: entry:MyFlow
inputs:
  a: {type: string}
  b: {type: string, default: yaml_b}
  c: {type: string, default: ""}
init:
  obj: {type: string, default: yaml_obj}
""",
    "entry.py": """\
class MyFlow:
    def __init__(self, obj: str = "code_obj"):
        self.obj = obj

    def __call__(self, a: str, b: str = "code_b", c: str = None):
        assert c is None      # a YAML default of '' is no default (eager_flows/flow_with_empty_string)
        return {"joined": "_".join([self.obj, a, b]), "stream": (c for c in "abc")}

    def __aggregate__(self, results):
        return {"n": len(results)}
""",
}


def test_flex_yaml_defaults_streamed_values_and_no_aggregate_in_test(tmp_path):
    # eager_flows/basic_with_yaml_default, multiple_stream_outputs: YAML defaults of inputs and
    # init win over the code's; generator values of a dict output are joined; pf flow test never
    # calls __aggregate__
    res = run_test_line(RunSpec(flow=str(write_flow(tmp_path / "f", FLEX)), engine="builtin"), {"a": "x"})
    assert res.error is None and res.outputs == {"joined": "yaml_obj_x_yaml_b", "stream": "abc"}
    assert res.metrics == {}


DAG = {
    "flow.dag.yaml": """\
inputs:
  n: {type: int}
outputs:
  out: {type: string, reference: "${gen.output}"}
  conn: {type: object, reference: "${conn.output}"}
nodes:
- name: gen
  type: python
  source: {type: code, path: gen.py}
  inputs: {n: "${inputs.n}"}
- name: conn
  type: python
  source: {type: code, path: conn.py}
  inputs: {c: my_custom}
- name: fails
  type: python
  source: {type: code, path: fails.py}
  inputs: {x: "${inputs.n}"}
""",
    "gen.py": """\
from promptflow.core import tool


@tool
async def echo(n: int):
    assert __name__ == "__pf_main__"
    for i in range(n):
        yield f"{i},"
""",
    "conn.py": """\
from promptflow.connections import CustomConnection
from promptflow.core import tool


@tool
def as_dict(c: CustomConnection) -> dict:
    return dict(c)
""",
    "fails.py": """\
from promptflow.core import tool


@tool
def boom(x: int) -> int:
    if x == 0:
        raise ValueError("no " + str(x))
    return x
""",
}


def test_dag_async_generator_custom_connection_dict_and_failure_names_the_node(tmp_path):
    # flows/async_generator_tools, flow_with_custom_connection, sync_tools_failures,
    # script_with___file__ (tool modules are named __pf_main__)
    _save("my_custom", type="custom", configs={"k": "v"}, secrets={"s": "x"})
    spec = RunSpec(flow=str(write_flow(tmp_path / "f", DAG)), engine="builtin")
    res = run_test_line(spec, {"n": "3"})
    assert res.error is None and res.outputs == {"out": "0,1,2,", "conn": {"k": "v", "s": "x"}}
    res = run_test_line(spec, {"n": "0"})
    assert res.error == {"type": "ValueError", "node": "fails",     # the node, not the function 'boom'
                         "message": "Execution failure in 'fails': (ValueError) no 0"}
    bad = run_test_line(spec, {"n": "x"})
    assert bad.error["type"] == "InputTypeError" and bad.error["message"] == (
        "The input for flow is incorrect. The value for flow input 'n' in line 0 of input data does not match "
        "the expected type 'int'. Please change flow input type or adjust the input value in your input data.")


def test_image_flows_go_to_promptflow(tmp_path):
    # flows/python_tool_with_simple_image, chat_flow_with_image: the built-in engine does not load
    # images, so --engine builtin refuses (and auto picks promptflow), naming what needs it
    img = {"flow.dag.yaml": DAG["flow.dag.yaml"].replace("n: {type: int}", "n: {type: image}")}
    with pytest.raises(RunError, match="flow input 'n' needs the promptflow engine: images are not loaded"):
        run_test_line(RunSpec(flow=str(write_flow(tmp_path / "a", dict(DAG, **img))), engine="builtin"), {})
    # a tool module holding promptflow's Image (`from promptflow.contracts.multimedia import
    # Image`): checked on a stand-in, as importing promptflow itself takes seconds
    import types

    from pfgit.run.engine.plan import _unconverted_type

    image_cls = type("Image", (), {"__module__": "promptflow.contracts.multimedia"})
    assert _unconverted_type(types.SimpleNamespace(Image=image_cls, tool=len)) == "Image"
    assert _unconverted_type(types.SimpleNamespace(tool=len, json=json)) is None


PROMPT_DUP = {
    "flow.dag.yaml": """\
inputs:
  text: {type: string}
outputs:
  out: {type: string, reference: "${p.output}"}
  prop: {type: string, reference: "${d.output.value}"}
nodes:
- name: p
  type: prompt
  source: {type: code, path: p.jinja2}
  inputs: {text: "${inputs.text}"}
- name: d
  type: python
  source: {type: code, path: d.py}
  inputs: {x: "${inputs.text}"}
""",
    "p.jinja2": "{{text}} {{template}}",
    "d.py": "from promptflow.core import tool\n\n\n@tool\ndef d(x: str) -> dict:\n    return {'key': x}\n",
}


def test_template_variable_named_like_a_tool_parameter_and_invalid_property(tmp_path):
    # flows/prompt_tool_with_duplicated_inputs (promptflow refuses the node before any line),
    # flows/flow_with_user_output (promptflow's InvalidReferenceProperty message)
    spec = RunSpec(flow=str(write_flow(tmp_path / "f", PROMPT_DUP)), engine="builtin")
    with pytest.raises(RunError, match=r"node 'p': Invalid inputs \{'template'\} in prompt template of node p\. "
                                       r"These inputs are duplicated with the reserved parameters of prompt tool\."):
        run_test_line(spec, {"text": "hi"})
    (tmp_path / "f" / "p.jinja2").write_text("{{text}}")
    res = run_test_line(spec, {"text": "hi"})
    assert res.error == {"type": "InvalidReferenceProperty", "node": None, "message": (
        "Flow execution failed. Invalid property 'value' when accessing the node 'd'. "
        "Please check the property and try again.")}


def test_flow_load_refusals_and_yaml_types(tmp_path, capsys):
    # prompty/prompty_with_reference_file (a missing ${file:} reference was an internal error),
    # prompty/prompty_with_image (markdown images: promptflow sends image parts), flows/
    # flow_with_additional_include_req (promptflow refuses a missing include), eager_flows/
    # flow_with_wrong_type (a YAML input type is checked, its default included)
    p = tmp_path / "ref.prompty"
    p.write_text(PROMPTY.replace("    azure_deployment: gpt-4o", "    azure_deployment: ${file:conf.json}"))
    with pytest.raises(RunError, match=r"^Cannot find the reference file conf\.json\.$"):
        run_test_line(RunSpec(flow=str(p), engine="builtin"), {})
    p.write_text(PROMPTY.replace("{{question}}", "![pic](data:image/png;path:a.png) {{question}}"))
    with pytest.raises(RunError, match="the prompty needs the promptflow engine: its template has a markdown image"):
        run_test_line(RunSpec(flow=str(p), engine="builtin"), {})
    inc = dict(PRINTS, **{"flow.dag.yaml": PRINTS["flow.dag.yaml"] + "additional_includes:\n- ../shared/util.py\n"})
    with pytest.raises(RunError, match=r"Unable to find additional include \.\./shared/util\.py"):
        run_test_line(RunSpec(flow=str(write_flow(tmp_path / "inc", inc)), engine="builtin"), {"x": "a"})
    typed = dict(FLEX, **{"flow.flex.yaml": FLEX["flow.flex.yaml"].replace("{type: string, default: yaml_b}",
                                                                           "{type: int, default: yaml_b}")})
    flow = write_flow(tmp_path / "typed", typed)
    assert main(["test", "--flow", str(flow), "--inputs", "a=x"]) == 1
    assert capsys.readouterr().err == (       # no "node 'None'" when the error is the line's
        "pfgit: The input for flow is incorrect. The value for flow input 'b' does not match the expected type "
        "'int'. Please change flow input type or adjust the input value in your input data.\n")


def test_unserializable_output_is_promptflow_s_error(tmp_path):
    # eager_flows/non_json_serializable_output; the same check for DAG outputs (run_tracker.py)
    flow = write_flow(tmp_path / "f", dict(PRINTS, **{"say.py": PRINTS["say.py"].replace('return x + "!"',
                                                                                          "return {x}")}))
    res = run_test_line(RunSpec(flow=str(flow), engine="builtin"), {"x": "a"})
    assert res.error == {"type": "FlowOutputUnserializable", "node": None, "message": (
        "The output 'y' for flow is incorrect. The output value is not JSON serializable. JSON dump failed: "
        "(TypeError) Object of type set is not JSON serializable. Please verify your flow output and make sure "
        "the value serializable.")}


def test_failed_aggregation_fails_the_test_without_outputs(tmp_path):
    # flows/aggregation_node_failed: as `pfgit test --engine promptflow` reports it
    agg = dict(PRINTS, **{
        "flow.dag.yaml": PRINTS["flow.dag.yaml"] + """\
- name: avg
  type: python
  source: {type: code, path: avg.py}
  inputs: {xs: "${say.output}"}
  aggregation: true
""",
        "avg.py": "from promptflow.core import tool\n\n\n@tool\ndef avg(xs: list):\n    return 1 / 0\n"})
    res = run_test_line(RunSpec(flow=str(write_flow(tmp_path / "f", agg)), engine="builtin"), {"x": "a"})
    assert res.outputs is None and res.error["type"] == "ZeroDivisionError"
    assert res.error["message"] == "Execution failure in 'avg': (ZeroDivisionError) division by zero"


def test_run_json_keeps_import_time_prints_off_stdout(tmp_path, capsys, monkeypatch):
    # flows/script_with___file__ prints when its module is imported (before any line)
    from run_flows import make_repo, write_jsonl

    flow = dict(PRINTS, **{"say.py": "print('loading')\n" + PRINTS["say.py"]})
    repo = make_repo(tmp_path, {"f": flow})
    write_jsonl(repo / "d.jsonl", [{"x": "a"}])
    monkeypatch.chdir(repo)
    assert main(["run", "--flow", "f", "--data", "d.jsonl", "--name", "r1", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["lines"] == {"total": 1, "completed": 1, "failed": 0}
    assert "loading" in cap.err


def test_prompty_unknown_configuration_type(tmp_path):
    # examples/flows/integrations/unify-ai/eval_code_flow: promptflow knows only (Azure)OpenAI
    p = tmp_path / "u.prompty"
    p.write_text(PROMPTY.replace("type: azure_openai", "type: unify"))
    res = run_test_line(RunSpec(flow=str(p), engine="builtin"), {"question": "q", "examples": "e"})
    assert res.error == {"type": "UnknownConnectionType", "node": "u", "message": (
        "Not Support connection type unify for embedding api. Connection type should be in [AzureOpenAI, OpenAI].")}


OPERATION_CONTEXT = {   # promptflow's eager_flows/flow_with_operation_context
    "flow.flex.yaml": "entry: flow_with_context:my_flow\n",
    "flow_with_context.py": """\
from promptflow.tracing._operation_context import OperationContext


def my_flow():
    context = OperationContext.get_instance()
    assert "flow_id" in context
    assert "root_run_id" in context
    return {"flow-id": context.flow_id, "root-run-id": context.root_run_id}
""",
}
CONTEXT_NODE = {
    "flow.dag.yaml": "inputs: {}\noutputs:\n  ua: {type: string, reference: '${ua.output}'}\nnodes:\n"
                     "- name: ua\n  type: python\n  source: {type: code, path: ua.py}\n  inputs: {}\n",
    "ua.py": "import promptflow._core.operation_context as oc\nfrom promptflow.core import tool\n\n\n@tool\n"
             "def ua() -> str:\n    return oc.OperationContext.get_instance().get_user_agent()\n",
}


@pytest.mark.parametrize("files,who,line", [(OPERATION_CONTEXT, "the flow", 1), (CONTEXT_NODE, "node 'ua'", 1)])
def test_operation_context_goes_to_promptflow(tmp_path, files, who, line):
    # only promptflow's executor fills the OperationContext (flow_id, root_run_id, run_mode, user
    # agent): even the real package imported by the built-in engine leaves it empty, so the import
    # scan sends the flow to promptflow (decided without importing promptflow here)
    from pfgit.run.engine.select import choose

    flow = write_flow(tmp_path / "f", files)
    assert choose(RunSpec(flow=str(flow)), None) == ("promptflow", None)
    with pytest.raises(RunError, match=f"{who} needs the promptflow engine: .*uses promptflow's OperationContext") as e:
        choose(RunSpec(flow=str(flow), engine="builtin"), None)
    assert e.value.line == line and e.value.file.endswith(".py")


THREADS = {
    "flow.dag.yaml": "inputs: {}\noutputs:\n  o: {type: string, reference: '${t.output}'}\nnodes:\n"
                     "- name: t\n  type: python\n  source: {type: code, path: t.py}\n  inputs: {}\n",
    "t.py": """\
import contextvars

from promptflow.core import tool
from promptflow.tracing import ThreadPoolExecutorWithContext

VAR = contextvars.ContextVar("v", default="unset")


@tool
def t() -> str:
    VAR.set("parent")
    with ThreadPoolExecutorWithContext(max_workers=1, initializer=VAR.get) as pool:
        return pool.submit(VAR.get).result()
""",
}


def test_thread_pool_with_context_is_served_by_the_compatibility_layer(tmp_path):
    from pfgit.run import pfimports

    flow = write_flow(tmp_path / "f", THREADS)
    assert pfimports.scan_sources(str(flow), [("t", "t.py")]) == []     # no real promptflow needed
    assert run_test_line(RunSpec(flow=str(flow), engine="builtin"), {}).outputs == {"o": "parent"}


WORDING_DAG = {
    "flow.dag.yaml": "inputs:\n  n: {type: int}\n  m: {type: string}\n  chat_history: {type: list}\n"
                     "outputs:\n  o: {type: string, reference: '${f.output}'}\nnodes:\n- name: f\n  type: python\n"
                     "  source: {type: code, path: f.py}\n  inputs: {n: '${inputs.n}', m: '${inputs.m}', "
                     "h: '${inputs.chat_history}'}\n",
    "f.py": "from promptflow.core import tool\n\n\n@tool\ndef f(n: int, m: str, h: list) -> str:\n"
            "    return f'{n}{m}{h}'\n",
}
WORDING_FLEX = {"flow.flex.yaml": "entry: e:f\n", "e.py": "def f(n: int, m: str) -> str:\n    return str(n) + m\n"}
NOT_INT = ("The input for flow is incorrect. The value for flow input 'n'{} does not match the expected type "
           "'int'. Please change flow input type or adjust the input value in your input data.")
NO_M = ("The input for flow is incorrect. The value for flow input 'm' is not provided {}. Please review your "
        "input data or remove this input in your flow if it's no longer needed.")


def test_input_error_wording_names_the_line_where_promptflow_does(tmp_path, monkeypatch):
    # promptflow 1.18.5, observed: `pf flow test` of a DAG flow validates its one line as line 0
    # and refuses missing inputs before running (a chat history defaults to []); batch DAG lines
    # name their line; flex flows and prompty (ScriptExecutor) never name one
    from pfgit.run.batch import run_batch
    from run_flows import make_repo, quiet_console, write_jsonl
    from test_run_batch import read_run

    dag = RunSpec(flow=str(write_flow(tmp_path / "d", WORDING_DAG)), engine="builtin")
    assert run_test_line(dag, {"n": "x", "m": "a"}).error["message"] == NOT_INT.format(" in line 0 of input data")
    assert run_test_line(dag, {"n": "1", "m": "a"}).outputs == {"o": "1a[]"}
    with pytest.raises(RunError, match=r"""Required input\(s\) \['m'\] are missing for "flow"\.""") as e:
        run_test_line(dag, {"n": "1"})
    assert e.value.file.endswith("flow.dag.yaml")
    flex = RunSpec(flow=str(write_flow(tmp_path / "x", WORDING_FLEX)), engine="builtin")
    assert run_test_line(flex, {"n": "x", "m": "a"}).error["message"] == NOT_INT.format("")
    assert run_test_line(flex, {"n": "1"}).error["message"] == NO_M.format("in input data")
    repo = make_repo(tmp_path, {"d": WORDING_DAG, "x": WORDING_FLEX})
    write_jsonl(repo / "data.jsonl", [{"n": 1, "m": "a", "chat_history": []}, {"n": "x", "m": "b"}, {"n": 2}])
    monkeypatch.chdir(repo)
    for flow, where, missing in (("d", " in line 1 of input data", "in line 2 of input data"),
                                 ("x", "", "in input data")):
        out = run_batch(RunSpec(flow=flow, data="data.jsonl", name=f"w{flow}", engine="builtin", workers=1),
                        quiet_console())
        assert [out.first_error["message"]] == [NOT_INT.format(where)]
        errors = [json.loads(x) for x in read_run(repo, f"w{flow}")[3]["errors.jsonl"].splitlines()]
        assert [e["message"] for e in errors] == [NOT_INT.format(where), NO_M.format(missing)]


IMAGE_LIST = {
    "flow.dag.yaml": "inputs:\n  items: {type: list}\n  meta: {type: object, default: {}}\noutputs:\n"
                     "  o: {type: string, reference: '${f.output}'}\nnodes:\n- name: f\n  type: python\n"
                     "  source: {type: code, path: f.py}\n  inputs: {items: '${inputs.items}', meta: '${inputs.meta}'}\n",
    "f.py": "from promptflow.core import tool\n\n\n@tool\ndef f(items: list, meta: dict) -> str:\n"
            "    return ','.join(type(i).__name__ for i in items)\n",
}
PNG = {"data:image/png;path": "dot.png"}


def test_images_inside_list_and_object_inputs(tmp_path):
    # promptflow's DAG executor loads {"data:image/<fmt>;path|base64|url": v} dicts found at any
    # depth of a list/object input as Image objects; the built-in engine has none: auto hands the
    # flow to promptflow when the test inputs or the run's data hold one, builtin fails the line
    from pfgit.run.engine.select import choose, promptflow_installed
    from pfgit.run.multimedia import data_may_hold_images, holds_image

    assert holds_image([1, {"a": [PNG]}]) and holds_image({"k": {"data:image/jpeg;url": "http://x"}})
    assert not holds_image([{"data:image/png;path": "a", "other": 1}, "data:image/png;path"])
    flow = write_flow(tmp_path / "f", IMAGE_LIST)
    bad = run_test_line(RunSpec(flow=str(flow), engine="builtin"), {"items": "[1]", "meta": {"x": [PNG]}})
    assert bad.error["type"] == "NeedsPromptflow" and "flow input 'meta' holds an image" in bad.error["message"]
    assert run_test_line(RunSpec(flow=str(flow), engine="builtin"), {"items": '["a", {"k": 1}]'}).outputs == \
        {"o": "str,dict"}
    (tmp_path / "plain.jsonl").write_text('{"items": ["data:image/png;path is text"]}\n')
    (tmp_path / "img.csv").write_text('items\n"[{""data:image/png;path"": ""dot.png""}]"\n')
    (tmp_path / "img.jsonl").write_text(json.dumps({"items": [PNG]}) + "\n")
    assert [data_may_hold_images(str(tmp_path / n)) for n in ("plain.jsonl", "img.csv", "img.jsonl")] == \
        [False, True, True]
    if not promptflow_installed():
        pytest.skip("promptflow is not installed")
    name, engine = choose(RunSpec(flow=str(flow)), None, {"items": json.dumps([PNG])})
    assert (name, engine) == ("promptflow", None)
    assert choose(RunSpec(flow=str(flow), data=str(tmp_path / "img.jsonl")), None) == ("promptflow", None)
    name, engine = choose(RunSpec(flow=str(flow), data=str(tmp_path / "plain.jsonl")), None)
    engine.close()
    assert name == "builtin"


def test_promptflow_run_records_skip_the_images_it_writes(tmp_path):
    # a promptflow run with image inputs writes the images into flow_artifacts beside the records
    from pfgit.run.engine.promptflow import _lines

    art = tmp_path / "flow_artifacts"
    art.mkdir()
    (art / "000000000_000000001.jsonl").write_text(json.dumps(
        {"line_number": 0, "run_info": {"status": "Completed", "inputs": {"x": 1}, "output": {"o": 2}}}) + "\n")
    (art / "5e1f.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert _lines(str(tmp_path)) == {0: ({"x": 1}, {"o": 2}, None)}

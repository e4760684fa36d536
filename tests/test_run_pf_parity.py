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
    res = run_test_line(spec, {"examples": "e"})
    assert res.error == {"type": "RequiredEnvironmentVariablesNotSetError", "node": "p", "message":
                         "Required environment variables ['AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_API_KEY'] "
                         "to build AzureOpenAIConnection not set."}
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_openai.root)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-env")
    res = run_test_line(spec, {"examples": "e"})
    assert res.error is None and res.outputs == {"output": "echo: hi e"}
    assert fake_openai.requests[-1]["path"].startswith("/openai/deployments/gpt-4o/")
    # a required input neither given nor in the sample: promptflow's InputNotFound
    res = run_test_line(spec, {})
    assert res.error["type"] == "InputNotFound"
    assert res.error["message"] == ("The input for flow is incorrect. The value for flow input 'examples' "
                                    "is not provided in input data.")

"""A flow run in-process with the installed promptflow (a flex flow loading a prompty with
`AzureOpenAIModelConfiguration(connection=NAME)`, as the corpus's chat-basic does) finds the
connection in pfgit's store; a name pfgit does not know is still looked up in promptflow's own
store. Runs `pfgit test` in a child: importing promptflow here would change which package
later tests' tools get."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from run_flows import write_flow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLEX_PROMPTY = {
    "flow.flex.yaml": "entry: flow:ChatFlow\nsample:\n  inputs: {question: q}\n"
                      "  init:\n    model_config: {connection: CONN, azure_deployment: gpt-4o}\n",
    "flow.py": """\
from pathlib import Path

from promptflow.core import AzureOpenAIModelConfiguration, Prompty

BASE = Path(__file__).absolute().parent


class ChatFlow:
    def __init__(self, model_config: AzureOpenAIModelConfiguration):
        self.model_config = model_config

    def __call__(self, question: str) -> str:
        prompty = Prompty.load(source=BASE / "chat.prompty", model={"configuration": self.model_config})
        return prompty(question=question)
""",
    "chat.prompty": "---\nname: chat\nmodel:\n  api: chat\n  configuration:\n    type: azure_openai\n"
                    "    azure_deployment: gpt-4o\n  parameters: {max_tokens: 16}\ninputs:\n"
                    "  question: {type: string}\n---\nsystem:\nYou are terse.\nuser:\n{{question}}\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("conn_name,expect", [("pfgit_conn", "ok"), ("nowhere", "not found")])
def test_promptflows_own_lookup_finds_pfgit_connections(tmp_path, fake_openai, conn_name, expect):  # noqa: F811
    files = dict(FLEX_PROMPTY)
    files["flow.flex.yaml"] = files["flow.flex.yaml"].replace("CONN", conn_name)
    flow = write_flow(tmp_path / "flow", files)
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PF_DISABLE_TELEMETRY="true", PFGIT_PROMPTFLOW_IMPORTS="auto")
    conn = tmp_path / "conn.yaml"
    conn.write_text(f"name: pfgit_conn\ntype: azure_open_ai\napi_key: az-sk-123456\n"
                    f"api_base: {fake_openai.root}\napi_version: '2024-02-01'\n")
    pfgit = [sys.executable, "-m", "pfgit"]
    subprocess.run(pfgit + ["connection", "create", "--file", str(conn)], env=env, check=True, capture_output=True)
    r = subprocess.run(pfgit + ["test", "--flow", str(flow), "--inputs", "question=hi", "--json"], env=env,
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    if expect == "ok":
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["outputs"] == {"output": "echo: hi"}
        sent = fake_openai.requests[-1]
        assert sent["deployment"] == "gpt-4o" and sent["headers"]["api-key"] == "az-sk-123456"
    else:   # promptflow's own store was asked, and said so
        err = json.loads(r.stdout)["error"]
        assert r.returncode == 1 and "Connection 'nowhere' is not found" in err["message"]


def _repo_with_connection(tmp_path, files: dict, rows: list, api_key: str, server):
    """A committed repo with the flow `files` in flow/ and data.jsonl, and pfgit's connection
    `pfgit_conn` (Azure OpenAI on the fake server, key `api_key`): (repo, env, pfgit argv)."""
    repo = tmp_path / "repo"
    write_flow(repo / "flow", files)
    (repo / "data.jsonl").write_text("".join(r + "\n" for r in rows))
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PF_DISABLE_TELEMETRY="true", GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@b")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "flow"]):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True)
    conn = tmp_path / "conn.yaml"
    conn.write_text(f"name: pfgit_conn\ntype: azure_open_ai\napi_key: {api_key}\n"
                    f"api_base: {server.root}\napi_version: '2024-02-01'\n")
    pfgit = [sys.executable, "-m", "pfgit"]
    subprocess.run(pfgit + ["connection", "create", "--file", str(conn)], env=env, check=True, capture_output=True)
    return repo, env, pfgit


@pytest.mark.slow
def test_a_connection_the_real_package_looked_up_is_masked_in_the_snapshot(tmp_path, fake_openai):  # noqa: F811
    """The flow's model configuration is resolved from pfgit's store as promptflow resolves it
    (`from_connection`: key and endpoint set); a flow echoing the key does not push it."""
    files = dict(FLEX_PROMPTY)
    files["flow.flex.yaml"] = files["flow.flex.yaml"].replace("CONN", "pfgit_conn")
    files["flow.py"] = files["flow.py"].replace(
        "        return prompty(question=question)",
        "        assert self.model_config.connection is None  # resolved, as promptflow does\n"
        "        return prompty(question=question) + ' ' + self.model_config.api_key")
    repo, env, pfgit = _repo_with_connection(tmp_path, files, ['{"question": "hi"}'], "az-sk-987654321",
                                             fake_openai)
    r = subprocess.run(pfgit + ["run", "--flow", "flow", "--data", "data.jsonl", "--name", "r1"], env=env,
                       capture_output=True, text=True, timeout=300, cwd=repo)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(pfgit + ["runs", "stream", "r1"], env=env, capture_output=True, text=True, cwd=repo).stdout
    assert "echo: hi" in out and "az-sk-987654321" not in out
    tree = subprocess.run(["git", "ls-tree", "-r", "refs/pfgit/runs/r1"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout
    blobs = b"".join(subprocess.run(["git", "cat-file", "-p", ln.split()[2]], cwd=repo, capture_output=True).stdout
                     for ln in tree.splitlines())
    assert b"az-sk-987654321" not in blobs


MODEL_CONFIG_FLOW = {
    "flow.flex.yaml": "entry: flow:Show\n",
    "flow.py": """\
from __future__ import annotations

from promptflow.connections import CustomConnection
from promptflow.core import AzureOpenAIModelConfiguration, OpenAIModelConfiguration


class Show:
    def __init__(self, az: AzureOpenAIModelConfiguration, oa: OpenAIModelConfiguration, custom: CustomConnection):
        self.az, self.oa, self.custom = az, oa, custom

    def __call__(self) -> dict:
        return {"az": [type(self.az).__name__, self.az.azure_deployment, self.az.azure_endpoint, self.az.connection],
                "oa": [type(self.oa).__name__, self.oa.model, self.oa.base_url, self.oa.connection],
                "custom": [type(self.custom).__name__, self.custom.configs.get("k")]}
""",
}


def _conns(name):
    return {"az": {"name": "az", "type": "azure_open_ai", "api_key": "k1", "api_base": "https://az.example",
                   "api_version": "2024-02-01"},
            "oa": {"name": "oa", "type": "open_ai", "api_key": "k2", "base_url": "https://oa.example/v1"},
            "cu": {"name": "cu", "type": "custom", "configs": {"k": "v"}, "secrets": {"s": "k3"}}}[name]


def test_init_model_configs_and_connections_are_resolved_like_promptflow(tmp_path):
    """Built-in engine, compatibility layer (no promptflow import): a model configuration given
    as a dict becomes its class, rebuilt from the named connection; a connection parameter given
    by name becomes the connection; their secrets are masked in the run's snapshot."""
    from pfgit.run.engine.flex import FlexEngine
    from pfgit.run.engine.plan import load
    from pfgit.run.errors import RunError

    flow, fdir, ffile = load(str(write_flow(tmp_path / "f", MODEL_CONFIG_FLOW)))
    init = {"az": {"connection": "az", "azure_deployment": "gpt-4o"}, "oa": {"connection": "oa", "model": "m"},
            "custom": "cu"}
    eng = FlexEngine(flow, fdir, ffile, init, _conns)
    try:
        assert not eng.modules.real
        assert eng.run_line({}, 0).outputs == {
            "az": ["AzureOpenAIModelConfiguration", "gpt-4o", "https://az.example", None],
            "oa": ["OpenAIModelConfiguration", "m", "https://oa.example/v1", None],
            "custom": ["CustomConnection", "v"]}
        assert {"k1", "k2", "k3"} <= set(eng.secret_values())
    finally:
        eng.close()
    with pytest.raises(RunError, match="connection 'nowhere' is not found"):
        FlexEngine(flow, fdir, ffile, dict(init, custom="nowhere"), _conns)
    # promptflow's examples/flex-flows/chat-basic names open_ai_connection for an Azure
    # configuration: one line naming the mismatch, not "internal error: AttributeError"
    with pytest.raises(RunError, match="init 'az': connection 'oa' is of type OpenAIConnection: "
                                       "AzureOpenAIModelConfiguration cannot use it"):
        FlexEngine(flow, fdir, ffile, dict(init, az={"connection": "oa", "azure_deployment": "d"}), _conns)


DAG_PROMPTY = {
    "flow.dag.yaml": "inputs:\n  question: {type: string}\noutputs:\n  answer: {type: string, reference: "
                     "'${ask.output}'}\nnodes:\n- name: ask\n  type: python\n  source: {type: code, path: ask.py}\n"
                     "  inputs: {question: '${inputs.question}'}\n",
    "ask.py": """\
from pathlib import Path

from promptflow.core import AzureOpenAIModelConfiguration, Prompty, tool
from promptflow.core._prompty_utils import convert_model_configuration_to_connection


@tool
def ask(question: str) -> str:
    # the tool names the connection itself: promptflow looks it up, not the node's inputs
    config = AzureOpenAIModelConfiguration(connection="pfgit_conn", azure_deployment="gpt-4o")
    prompty = Prompty.load(source=Path(__file__).with_name("chat.prompty"), model={"configuration": config})
    print("key", convert_model_configuration_to_connection(config).api_key)   # into stdout.log
    return prompty(question=question) + " " + convert_model_configuration_to_connection(config).api_key
""",
    "chat.prompty": FLEX_PROMPTY["chat.prompty"],
}


@pytest.mark.slow
def test_connections_tools_look_up_in_worker_processes_are_masked(tmp_path, fake_openai):  # noqa: F811
    """--processes 2: the tools run in forked children only, so only the children see promptflow
    look the connection up; they report it and no blob of the snapshot holds its secret."""
    repo, env, pfgit = _repo_with_connection(tmp_path, DAG_PROMPTY, [f'{{"question": "q{i}"}}' for i in range(4)],
                                             "az-sk-55501234", fake_openai)
    r = subprocess.run(pfgit + ["run", "--flow", "flow", "--data", "data.jsonl", "--name", "r1", "--processes", "2",
                                "--workers", "2", "--json"], env=env, capture_output=True, text=True, timeout=300, cwd=repo)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lines"]["completed"] == 4 and len(fake_openai.requests) == 4
    tree = subprocess.run(["git", "ls-tree", "-r", "refs/pfgit/runs/r1"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout
    names = [ln.split("\t")[1] for ln in tree.splitlines()]
    assert any(n.endswith("outputs.jsonl") for n in names) and any(n.endswith("stdout.log") for n in names)
    for ln in tree.splitlines():
        blob = subprocess.run(["git", "cat-file", "-p", ln.split()[2]], cwd=repo, capture_output=True).stdout
        assert b"az-sk-55501234" not in blob, ln

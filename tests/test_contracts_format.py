"""Facts of shared/brief/promptflow-format.md that pfgit reads and writes, checked on small flows
the tests write: the keys of flow.dag.yaml and of its nodes, the `${...}` reference syntax, the
two connection placements, run files and the YAML pfgit writes back."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml

PY_TOOL = "from promptflow.core import tool\n\n\n@tool\ndef f(text: str) -> str:\n    return text\n"


def pfgit(cwd, *args):
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=cwd, text=True, capture_output=True,
                          timeout=120)


def write(root, rel, text) -> pathlib.Path:
    p = pathlib.Path(root) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def problems(tmp_path, text, files=None) -> list:
    write(tmp_path, "f/flow.dag.yaml", text)
    write(tmp_path, "f/f.py", PY_TOOL)
    for rel, body in (files or {}).items():
        write(tmp_path, f"f/{rel}", body)
    r = pfgit(tmp_path, "validate", "--json", "f")
    assert r.returncode in (0, 1), r.stderr
    return [(p["code"], p["severity"], p["node"]) for p in json.loads(r.stdout)["flows"][0]["problems"]]


EVERY_KEY = """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
description: every key of the format sheet, 1.2-1.4
display_name: Every key
type: standard
language: python
tags: {team: demo}
environment:
  python_requirements_txt: requirements.txt
environment_variables:
  PLAIN: x
  FROM_CONN: ${my_conn.api_key}
additional_includes:
- ../shared/common.py
inputs:
  q:
    type: string
    default: hi
    description: the question
    enum: [hi, bye]
    is_chat_input: false
  history:
    type: list
    is_chat_history: false
outputs:
  o:
    type: string
    reference: ${first.output}
    description: d
    is_chat_output: false
    evaluation_only: false
nodes:
- name: first
  type: python
  source:
    type: code
    path: common.py
  inputs:
    text: ${flow.q}
  enable_cache: false
  comment: the source is found through additional_includes by its base name
- name: chat
  type: llm
  source:
    type: code
    path: chat.jinja2
  inputs:
    deployment_name: gpt-35-turbo
    temperature: 0
    question: ${first}
  connection: open_ai_connection
  api: chat
  provider: AzureOpenAI
  module: promptflow.tools.aoai
- name: vision
  type: custom_llm
  source:
    type: package_with_prompt
    tool: promptflow.tools.aoai_gpt4v.AzureOpenAI.chat
    path: chat.jinja2
  inputs:
    connection: aoai_gpt4v_connection
    deployment_name: gpt-4v
    question: ${inputs.q}
  provider: AzureOpenAI
  api: chat
  module: promptflow.tools.aoai
- name: lookup
  type: python
  source:
    type: package
    tool: promptflow_vectordb.tool.common_index_lookup.search
  inputs:
    queries: ${chat.output}
    top_k: 4
  activate:
    when: ${first.output}
    is: false
- name: deep
  type: python
  source:
    type: code
    path: f.py
  inputs:
    text: ${chat.output.a.b}
- name: summarize
  use_variants: true
- name: total
  type: python
  source:
    type: code
    path: f.py
  inputs:
    text: ${deep.output}
  reduce: true
node_variants:
  summarize:
    default_variant_id: variant_0
    variants:
      variant_0:
        node:
          type: prompt
          source: {type: code, path: chat.jinja2}
          inputs:
            question: ${first.output}
      variant_1:
        description: optional
        node:
          type: prompt
          source: {type: code, path: chat.jinja2}
          inputs:
            question: ${inputs.q}
"""


def test_every_key_of_the_format_sheet_is_read_without_error(tmp_path):
    """1.2-1.6: top-level, input, output and node keys (both connection placements, package tools,
    activate, variants, the legacy `reduce: true`); additional_includes by base name; `${flow.q}`
    is a flow input; `${first}` (bare) and `${chat.output.a.b}` (property path) are node outputs."""
    write(tmp_path, "shared/common.py", PY_TOOL)
    found = problems(tmp_path, EVERY_KEY, {"chat.jinja2": "# system:\nterse\n# user:\n{{question}}\n"})
    assert [p for p in found if p[1] == "error"] == [], found
    assert not [p for p in found if p[0] == "unknown-key"], found


def test_reduce_is_the_legacy_spelling_of_aggregation(tmp_path):
    """1.4: `aggregation: bool`, legacy alias `reduce: true` is also accepted."""
    text = ("inputs:\n  q:\n    type: string\nnodes:\n"
            "- name: a\n  type: python\n  source:\n    type: code\n    path: f.py\n  inputs:\n    text: ${inputs.q}\n"
            "- name: g\n  type: python\n  source:\n    type: code\n    path: f.py\n  inputs:\n    text: ${a.output}\n"
            "  reduce: true\n"
            "- name: b\n  type: python\n  source:\n    type: code\n    path: f.py\n  inputs:\n    text: ${g.output}\n")
    assert ("aggregation-ref", "error", "b") in problems(tmp_path, text)


def test_reference_syntax(tmp_path):
    """1.5: a reference is the whole string `${...}`; "a ${x}" is a literal; `${inputs.q}` and
    `${flow.q}` are flow inputs checked before node names; any other `${x.y}` is node x, section y."""
    base = ("inputs:\n  q:\n    type: string\nnodes:\n"
            "- name: a\n  type: python\n  source:\n    type: code\n    path: f.py\n  inputs:\n    text: {ref}\n")
    assert problems(tmp_path, base.format(ref="${flow.q}")) == []
    assert problems(tmp_path, base.format(ref="${inputs.q}")) == []
    assert ("unknown-input", "error", "a") in problems(tmp_path, base.format(ref="${flow.nope}"))
    literal = problems(tmp_path, base.format(ref="'a ${ghost.output}'"))
    assert [p[0] for p in literal] == ["embedded-ref"] and literal[0][1] == "warning"   # no dangling-ref
    two = base + ("- name: b\n  type: python\n  source:\n    type: code\n    path: f.py\n  inputs:\n"
                  "    text: ${a.result}\n")
    assert ("bad-ref-section", "error", "b") in problems(tmp_path, two)


def test_input_type_outside_valuetype_is_an_error(tmp_path):
    """1.3: `type: integer` passes `pf flow validate` but `pf flow test` dies: pfgit says so up front."""
    text = "inputs:\n  n:\n    type: integer\nnodes: []\n"
    assert ("bad-value", "error", None) in problems(tmp_path, text)


def test_two_flow_files_in_one_folder_is_an_error(tmp_path):
    """1.1: a folder holding two of flow.dag.yaml / flow.dag.yml / flow.flex.yaml is an error."""
    write(tmp_path, "f/flow.flex.yaml", "entry: f:f\n")
    assert ("multiple-flow-files", "error", None) in problems(tmp_path, "nodes: []\n")


def test_merged_flow_style_yaml_with_references_stays_loadable(tmp_path):
    """1.4 YAML gotcha: inside a flow mapping an unquoted `${x.output}` is a parser error, so pfgit's
    YAML writer must quote: a merge that edits flow-style nodes writes YAML that loads."""
    base = ("inputs:\n  q: {type: string}\noutputs:\n  o: {type: string, reference: \"${b.output}\"}\nnodes:\n"
            "- {name: a, type: python, source: {type: code, path: f.py}, inputs: {text: \"${inputs.q}\"}}\n"
            "- {name: b, type: python, source: {type: code, path: f.py}, inputs: {text: \"${a.output}\"}}\n")
    ours = base.replace("{name: a,", "{name: a2,").replace("${a.output}", "${a2.output}")
    theirs = base.replace('inputs: {text: "${a.output}"}}', 'inputs: {text: "${a.output}", more: "${inputs.q}"}}')
    for name, text in (("base.yaml", base), ("cur.yaml", ours), ("oth.yaml", theirs)):
        write(tmp_path, name, text)
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml")
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((tmp_path / "cur.yaml").read_text())
    by = {n["name"]: n for n in doc["nodes"]}
    assert by["b"]["inputs"] == {"text": "${a2.output}", "more": "${inputs.q}"}
    write(tmp_path, "m/flow.dag.yaml", (tmp_path / "cur.yaml").read_text())
    write(tmp_path, "m/f.py", PY_TOOL.replace("(text: str)", "(text: str, more: str = '')"))
    assert pfgit(tmp_path, "validate", "m").returncode == 0


def _repo(tmp_path) -> pathlib.Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    write(repo, "flows/t/flow.dag.yaml", "inputs:\n  text:\n    type: string\n    default: dflt\noutputs:\n"
          "  out:\n    type: string\n    reference: ${n.output}\nnodes:\n- name: n\n  type: python\n"
          "  source:\n    type: code\n    path: f.py\n  inputs:\n    text: ${inputs.text}\n")
    write(repo, "flows/t/f.py", PY_TOOL)
    write(repo, "flows/t/data.jsonl", '{"text": "a", "other": "x"}\n{"text": "b", "other": "y"}\n')
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "t"], cwd=repo, check=True)
    return repo


def _outs(repo, name) -> list:
    text = subprocess.run(["git", "show", f"refs/pfgit/runs/{name}:outputs.jsonl"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout
    return [json.loads(x)["out"] for x in text.splitlines()]


def test_run_file_keys_and_paths_relative_to_the_run_file(tmp_path):
    """3.1: `flow` and `data` (and an `environment_variables` .env path) resolve against the run
    file's folder; cloud-only keys and unknown keys are warned about, not fatal; 3.3: column_mapping
    literals and `${data.col}`."""
    repo = _repo(tmp_path)
    write(repo, "runs/.env", "MY_VAR=1\n")
    write(repo, "runs/r.yml", "$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Run.schema.json\n"
          "flow: ../flows/t\ndata: ../flows/t/data.jsonl\nname: r1\ndisplay_name: d\ndescription: x\n"
          "tags: {a: b}\nproperties: {p: q}\nenvironment_variables: .env\ncolumn_mapping:\n  text: ${data.other}\n"
          "resources: {instance_type: x}\nidentity: {type: managed}\nruntime: rt\nbogus: 1\n")
    r = pfgit(repo, "run", "--file", "runs/r.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _outs(repo, "r1") == ["x", "y"]
    for key in ("resources", "identity", "runtime", "bogus"):
        assert key in r.stderr
    r = pfgit(repo, "run", "--flow", "flows/t", "--data", "flows/t/data.jsonl", "--name", "lit",
              "--column-mapping", "text=123")
    assert r.returncode == 0 and _outs(repo, "lit") == ["123", "123"]   # CLI literals are strings


def test_default_beats_column_is_a_documented_deviation_said_on_the_console(tmp_path):
    """3.3: without column_mapping promptflow gives an input with a default its default even when the
    data has that column; pfgit maps the column (it does not lose the data) and says so."""
    repo = _repo(tmp_path)
    r = pfgit(repo, "run", "--flow", "flows/t", "--data", "flows/t/data.jsonl", "--name", "d1")
    assert r.returncode == 0 and _outs(repo, "d1") == ["a", "b"]
    assert "promptflow would" in r.stderr and "text" in r.stderr
    docs = (pathlib.Path(__file__).parent.parent / "docs" / "run.md").read_text(encoding="utf-8")
    assert "an input with a default ignores a same-named data column" in docs

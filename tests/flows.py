"""Small Prompt flow flows the tests write themselves (not a test module).

Every capability is tested on these, so `make test` passes on a clone with nothing beside it; the
real-flow corpus (tests/corpus_finder.py) adds breadth when present. Each flow is a dict
{relative path: text}; `write(dest, FLOW)` puts it on disk. They run under promptflow (python
nodes only, no LLM) except `CLASSIFY`, whose llm nodes need a connection.
"""

from __future__ import annotations

import pathlib

# An evaluation flow: a per-line python node and an aggregation node logging a metric.
ACCURACY = {
    "flow.dag.yaml": """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  groundtruth:
    type: string
    default: cat
  prediction:
    type: string
    default: cat
outputs:
  grade:
    type: string
    reference: ${grade.output}
nodes:
- name: grade
  type: python
  source:
    type: code
    path: grade.py
  inputs:
    groundtruth: ${inputs.groundtruth}
    prediction: ${inputs.prediction}
- name: calculate_accuracy
  type: python
  source:
    type: code
    path: calculate_accuracy.py
  inputs:
    grades: ${grade.output}
  aggregation: true
""",
    "grade.py": """\
from promptflow.core import tool


@tool
def grade(groundtruth: str, prediction: str) -> str:
    # case-insensitive exact match
    return "Correct" if groundtruth.strip().lower() == prediction.strip().lower() else "Incorrect"
""",
    "calculate_accuracy.py": """\
from promptflow.core import log_metric, tool


@tool
def calculate_accuracy(grades: list) -> list:
    accuracy = round(grades.count("Correct") / len(grades), 2) if grades else 0.0
    log_metric("accuracy", accuracy)
    return grades
""",
    "data.jsonl": '{"groundtruth": "cat", "prediction": "Cat"}\n{"groundtruth": "dog", "prediction": "cat"}\n',
}

# A flow with two branches chosen by `activate`, joined by a last node.
IF_ELSE = {
    "flow.dag.yaml": """\
inputs:
  question:
    type: string
    default: What is a flow?
outputs:
  answer:
    type: string
    reference: ${generate_result.output}
nodes:
- name: content_safety_check
  type: python
  source:
    type: code
    path: content_safety_check.py
  inputs:
    text: ${inputs.question}
- name: llm_result
  type: python
  source:
    type: code
    path: llm_result.py
  inputs:
    question: ${inputs.question}
  activate:
    when: ${content_safety_check.output}
    is: true
- name: default_result
  type: python
  source:
    type: code
    path: default_result.py
  inputs:
    question: ${inputs.question}
  activate:
    when: ${content_safety_check.output}
    is: false
- name: generate_result
  type: python
  source:
    type: code
    path: generate_result.py
  inputs:
    llm_result: ${llm_result.output}
    default_result: ${default_result.output}
environment:
  python_requirements_txt: requirements.txt
""",
    "content_safety_check.py": """\
from promptflow.core import tool


@tool
def content_safety_check(text: str) -> bool:
    # a stand-in for a moderation call: questions mentioning "unsafe" are refused
    return "unsafe" not in text.lower()
""",
    "llm_result.py": """\
from promptflow.core import tool


@tool
def llm_result(question: str) -> str:
    return f"An answer to: {question}"
""",
    "default_result.py": """\
from promptflow.core import tool


@tool
def default_result(question: str) -> str:
    return f"I cannot answer: {question}"
""",
    "generate_result.py": """\
from promptflow.core import tool


@tool
def generate_result(llm_result="", default_result="") -> str:
    return llm_result or default_result
""",
    "requirements.txt": "",
}

# An LLM flow with a jinja2 prompt, python nodes and a node with two variants.
CLASSIFY = {
    "flow.dag.yaml": """\
inputs:
  text:
    type: string
    default: The cat sat on the mat.
outputs:
  category:
    type: string
    reference: ${to_label.output}
nodes:
- name: clean
  type: python
  source:
    type: code
    path: clean.py
  inputs:
    text: ${inputs.text}
- name: summarize
  use_variants: true
- name: classify
  type: llm
  source:
    type: code
    path: classify.jinja2
  inputs:
    deployment_name: gpt-35-turbo
    temperature: 0
    summary: ${summarize.output}
    examples: ${examples.output}
  connection: open_ai_connection
  api: chat
- name: examples
  type: python
  source:
    type: code
    path: examples.py
  inputs: {}
- name: to_label
  type: python
  source:
    type: code
    path: to_label.py
  inputs:
    answer: ${classify.output}
node_variants:
  summarize:
    default_variant_id: variant_0
    variants:
      variant_0:
        node:
          type: llm
          source:
            type: code
            path: summarize.jinja2
          inputs:
            deployment_name: gpt-35-turbo
            max_tokens: 128
            text: ${clean.output}
          connection: open_ai_connection
          api: chat
      variant_1:
        node:
          type: llm
          source:
            type: code
            path: summarize.jinja2
          inputs:
            deployment_name: gpt-35-turbo
            max_tokens: 256
            text: ${clean.output}
          connection: open_ai_connection
          api: chat
""",
    "clean.py": """\
from promptflow.core import tool


@tool
def clean(text: str) -> str:
    return " ".join(text.split())[:2000]
""",
    "examples.py": """\
from promptflow.core import tool


@tool
def examples() -> list:
    return [{"text": "Dogs bark.", "category": "animals"},
            {"text": "Stocks fell.", "category": "finance"}]
""",
    "to_label.py": """\
import json

from promptflow.core import tool


@tool
def to_label(answer: str) -> str:
    try:
        return json.loads(answer)["category"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
""",
    "summarize.jinja2": """\
# system:
Summarize the text in one sentence.

# user:
{{text}}
""",
    "classify.jinja2": """\
# system:
Classify the summary into a category. Answer as JSON: {"category": "..."}.

{% for ex in examples %}
# user:
{{ex.text}}
# assistant:
{"category": "{{ex.category}}"}
{% endfor %}

# user:
{{summary}}
""",
}

# A flex flow: a python entry function.
FLEX = {
    "flow.flex.yaml": "entry: echo:reply\n",
    "echo.py": """\
def reply(question: str = "hi") -> str:
    return f"you said: {question}"
""",
}

# A prompty flow.
PROMPTY = {
    "chat.prompty": """\
---
name: chat
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-35-turbo
inputs:
  question:
    type: string
    default: What is a flow?
---
system:
You are a helpful assistant.

user:
{{question}}
""",
}


def write(dest, flow: dict) -> pathlib.Path:
    """Write `flow` into the folder `dest` (created); returns it."""
    dest = pathlib.Path(dest)
    for rel, text in flow.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return dest

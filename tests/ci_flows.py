"""A small repository the CI tests write themselves: a python-only QA flow answering capitals
from a table, an evaluation flow grading it (accuracy via log_metric), data, and pfgit.yaml."""

from __future__ import annotations

import pathlib

from runs_helpers import git

QA_FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: '${answer.output}'}
nodes:
- name: answer
  type: python
  source: {type: code, path: answer.py}
  inputs: {question: '${inputs.question}'}
"""
EVAL_FLOW = """\
inputs:
  answer: {type: string}
  expected: {type: string}
outputs:
  grade: {type: string, reference: '${grade.output}'}
nodes:
- name: grade
  type: python
  source: {type: code, path: grade.py}
  inputs: {answer: '${inputs.answer}', expected: '${inputs.expected}'}
- name: accuracy
  type: python
  source: {type: code, path: accuracy.py}
  inputs: {grades: '${grade.output}'}
  aggregation: true
"""
GRADE = """\
from promptflow.core import tool


@tool
def grade(answer: str, expected: str) -> str:
    return "Correct" if answer == expected else "Incorrect"
"""
ACCURACY = """\
from typing import List

from promptflow.core import log_metric, tool


@tool
def accuracy(grades: List[str]) -> float:
    acc = round(grades.count("Correct") / len(grades), 4)
    log_metric("accuracy", acc)
    return acc
"""
CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
            "Peru": "Lima", "Chile": "Santiago", "Kenya": "Nairobi", "Egypt": "Cairo"}
CHECKS = """\
flows:
- flow: flows/qa
  run:
    data: data/qa.jsonl
    column_mapping: {question: '${data.question}'}
  evaluations:
  - flow: flows/eval
    column_mapping: {answer: '${run.outputs.answer}', expected: '${data.expected}'}
  gates:
    accuracy: {min: 0.5, max_drop: 0.1}
"""


def answer_py(table: dict) -> str:
    return ("from promptflow.core import tool\n\nCAPITALS = " + repr(table) + "\n\n\n@tool\n"
            "def answer(question: str) -> str:\n"
            "    return CAPITALS.get(question.rstrip('?').split()[-1], 'unknown')\n")


def write_repo(root: pathlib.Path) -> pathlib.Path:
    import json

    (root / "flows" / "qa").mkdir(parents=True)
    (root / "flows" / "eval").mkdir(parents=True)
    (root / "data").mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "flows" / "qa" / "flow.dag.yaml").write_text(QA_FLOW)
    (root / "flows" / "qa" / "answer.py").write_text(answer_py(CAPITALS))
    (root / "flows" / "eval" / "flow.dag.yaml").write_text(EVAL_FLOW)
    (root / "flows" / "eval" / "grade.py").write_text(GRADE)
    (root / "flows" / "eval" / "accuracy.py").write_text(ACCURACY)
    (root / "data" / "qa.jsonl").write_text("".join(
        json.dumps({"question": f"Capital of {c}?", "expected": v}) + "\n" for c, v in CAPITALS.items()))
    (root / "pfgit.yaml").write_text(CHECKS)
    (root / ".gitignore").write_text("__pycache__/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "qa flow, eval flow, checks")
    return root


def set_table(root: pathlib.Path, table: dict, msg: str) -> str:
    (root / "flows" / "qa" / "answer.py").write_text(answer_py(table))
    git(root, "commit", "-q", "-am", msg)
    return git(root, "rev-parse", "HEAD")

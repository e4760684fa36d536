"""Demo step: the pull-request gate. A checks file (pfgit.yaml) runs the qa flow and an exact-match
evaluation flow; `pfgit check` fails a branch that lowers accuracy and passes one that raises it,
runs nothing the second time, and `pfgit report` writes the metric history page."""

from __future__ import annotations

import json

DATA = [
    {"question": "What is the capital of France?", "expected": "Paris"},
    {"question": "What is the capital of Japan?", "expected": "Tokyo"},
    {"question": "What is the capital of Italy?", "expected": "Rome"},
    {"question": "What is the capital of Spain?", "expected": "Madrid"},
    {"question": "What is the capital of Canada?", "expected": "Ottawa"},
]

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
GRADE = ("from promptflow.core import tool\n\n\n@tool\n"
         "def grade(answer: str, expected: str) -> str:\n"
         "    return \"Correct\" if answer.strip() == expected else \"Incorrect\"\n")
ACCURACY = ("from typing import List\n\nfrom promptflow.core import log_metric, tool\n\n\n@tool\n"
            "def accuracy(grades: List[str]) -> float:\n"
            "    acc = round(grades.count(\"Correct\") / len(grades), 2)\n"
            "    log_metric(\"accuracy\", acc)\n    return acc\n")
CHECKS = """\
flows:
- flow: qa
  run:
    data: data/capitals.jsonl
    column_mapping: {question: '${data.question}'}
  evaluations:
  - flow: evals/exact_match
    column_mapping: {answer: '${run.outputs.answer}', expected: '${data.expected}'}
  gates:
    accuracy: {min: 0.5, max_drop: 0.05}
"""
ANSWER = '''from promptflow.core import tool

CAPITALS = {CAPITALS}


@tool
def answer(prompt: str, style: str = "short") -> str:
    country = prompt.splitlines()[-1].split()[-1].strip("?") if prompt else ""
    return CAPITALS.get(country, country)
'''


def _answer(capitals: dict) -> str:
    return ANSWER.replace("{CAPITALS}", repr(capitals))


def run(demo) -> None:
    demo.title("CI gate: pfgit.yaml, pfgit check on pull requests, and the metric history page")
    if demo.sh("git status --porcelain").stdout.strip():
        demo.sh("git add -A && git commit -q -m 'Keep the edits of the previous steps' && echo committed")
    demo.sh("git checkout -q main 2>/dev/null || true")
    demo.write("data/capitals.jsonl", "".join(json.dumps(d) + "\n" for d in DATA))
    demo.write("evals/exact_match/flow.dag.yaml", EVAL_FLOW)
    demo.write("evals/exact_match/grade.py", GRADE)
    demo.write("evals/exact_match/accuracy.py", ACCURACY)
    demo.write("pfgit.yaml", CHECKS)
    demo.write("qa/answer.py", _answer({"France": "Paris", "Japan": "Tokyo", "Italy": "Rome"}))
    demo.sh("cat pfgit.yaml")
    demo.sh("git add -A && git commit -q -m 'Checks: run qa on the capitals, grade by exact match'"
            " && git log --oneline -1")

    print("\na pull request that forgets Italy: accuracy drops", flush=True)
    demo.sh("git checkout -q -b forget-italy")
    demo.write("qa/answer.py", _answer({"France": "Paris", "Japan": "Tokyo"}))
    demo.sh("git commit -q -am 'Trim the capitals table' && git log --oneline -1")
    demo.sh("pfgit check --baseline main --markdown ../check-report.md", check_codes=(1,))
    demo.sh("cat ../check-report.md")
    demo.sh("pfgit check --baseline main | tail -n 1", check_codes=(0,))
    print("(the second check ran nothing: the runs of both commits were recorded the first time)",
          flush=True)

    print("\na pull request that adds Spain and Canada: accuracy rises", flush=True)
    demo.sh("git checkout -q main && git checkout -q -b more-capitals")
    demo.write("qa/answer.py", _answer({"France": "Paris", "Japan": "Tokyo", "Italy": "Rome",
                                        "Spain": "Madrid", "Canada": "Ottawa"}))
    demo.sh("git commit -q -am 'Know Spain and Canada' && git log --oneline -1")
    demo.sh("pfgit check --baseline main")
    demo.sh("pfgit report --baseline main -o ../report.html")
    print(f"\nopen {demo.root}/report.html in a browser: the metric history page", flush=True)
    demo.sh("git checkout -q main")

"""Demo step: `pfgit test` one line, `pfgit run` a batch over a data set and an evaluation run over
it, improve the flow, run both again, then `pfgit log --metric accuracy` and `pfgit metrics diff`:
every run is a snapshot commit next to the flow's history."""

from __future__ import annotations

import json
import os

QUESTIONS = [
    {"question": "What is the capital of France?", "expected": "Paris"},
    {"question": "What is the capital of  Japan?", "expected": "Tokyo"},
    {"question": "What is the capital of Italy?", "expected": "Rome"},
    {"question": "What is the capital of Canada?", "expected": "Ottawa"},
]

EVAL_FLOW = {
    "qa_eval/flow.dag.yaml": """\
inputs:
  answer: {type: string}
  expected: {type: string}
outputs:
  grade:
    type: string
    reference: ${grade.output}
nodes:
- name: grade
  type: python
  source: {type: code, path: grade.py}
  inputs:
    answer: ${inputs.answer}
    expected: ${inputs.expected}
- name: accuracy
  type: python
  source: {type: code, path: accuracy.py}
  inputs:
    grades: ${grade.output}
  aggregation: true
""",
    "qa_eval/grade.py": (
        "from promptflow.core import tool\n\n\n@tool\n"
        "def grade(answer: str, expected: str) -> str:\n"
        "    return \"Correct\" if answer.strip().lower() == expected.lower() else \"Incorrect\"\n"),
    "qa_eval/accuracy.py": (
        "from promptflow.core import log_metric, tool\n\n\n@tool\n"
        "def accuracy(grades: list):\n"
        "    log_metric(\"accuracy\", round(grades.count(\"Correct\") / len(grades), 2))\n"),
}

BETTER_ANSWER = '''from promptflow.core import tool

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid"}


@tool
def answer(prompt: str, style: str = "short") -> str:
    country = prompt.splitlines()[-1].split()[-1].strip("?") if prompt else ""
    return CAPITALS.get(country, country)
'''

RUN = "pfgit run --flow qa --data ../questions.jsonl --name {n} --column-mapping question='${{data.question}}'"
EVAL = ("pfgit run --flow qa_eval --data ../questions.jsonl --run {n} --name {n}-eval "
        "--column-mapping answer='${{run.outputs.answer}}' expected='${{data.expected}}'")


def run(demo) -> None:
    root = demo.root
    with open(os.path.join(root, "questions.jsonl"), "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(q) + "\n" for q in QUESTIONS))

    demo.title("Test one line, then run the flow over a data set and evaluate the run")
    for rel, text in EVAL_FLOW.items():
        demo.write(rel, text)
    print("a data set of questions with their expected answers, and an evaluation flow qa_eval: its node"
          " `grade` compares an answer with the expected one, its aggregation node `accuracy` logs the"
          " share graded Correct", flush=True)
    demo.sh("head -n 2 ../questions.jsonl && ls qa_eval")
    demo.sh("git add -A && git commit -q -m 'Add the qa_eval evaluation flow' && echo committed")
    demo.sh("pfgit test --flow qa --inputs question='What is the capital of  Italy?'")
    demo.sh("git status --porcelain && echo '(pfgit test wrote nothing)'")
    demo.sh(RUN.format(n="qa-v1"))
    demo.sh(EVAL.format(n="qa-v1"))

    print("\nimprove the answer node and commit, then run and evaluate again", flush=True)
    demo.write("qa/answer.py", BETTER_ANSWER)
    demo.sh("git commit -q -am 'Answer from a table of capitals' && git log --oneline -1")
    demo.sh(RUN.format(n="qa-v2"))
    demo.sh(EVAL.format(n="qa-v2"))

    demo.title("Runs, the flow's history with its metrics, and a metrics diff")
    demo.sh("pfgit runs list")
    demo.sh("pfgit log qa --metric accuracy")
    demo.sh("pfgit metrics diff qa-v1-eval qa-v2-eval")
    demo.sh("pfgit runs show qa-v2 --details")

    demo.title("Under the hood: a run is a commit on top of the flow's commit, under refs/pfgit/runs/")
    demo.sh("git --no-pager log --oneline --format='%h %s' -2 refs/pfgit/runs/qa-v2")
    demo.sh("git ls-tree --name-only refs/pfgit/runs/qa-v2")
    demo.sh("git show refs/pfgit/runs/qa-v2:run.json | head -n 12")

    demo.title("Share runs between clones: pfgit push / pfgit fetch (refs/pfgit/*, docs/runs.md)")
    mate = os.path.join(root, "teammate")
    print("a teammate clones the repo: git clone brings the branches, not the runs", flush=True)
    demo.sh(f"git clone -q {demo.repo} {mate} && cd {mate} && pfgit runs list", cwd=root)
    demo.sh("pfgit fetch && pfgit runs list", cwd=mate)
    print("\nthe teammate runs the flow, records the run and pushes it back", flush=True)
    demo.sh(RUN.format(n="qa-v2-teammate") + " && " + EVAL.format(n="qa-v2-teammate")
            + " && pfgit push", cwd=mate)
    demo.sh("pfgit log qa --metric accuracy -n 1")

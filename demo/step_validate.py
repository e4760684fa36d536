"""Demo step: `pfgit validate` passes, catches a misspelled node reference (file:line, JSON),
the pre-commit hook refuses the broken commit, and the fix goes through."""

from __future__ import annotations

import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HOOK = os.path.join(os.path.dirname(HERE), "hooks", "pre-commit")
TYPO = ("question: ${clean_question.output}", "question: ${clean_qestion.output}")


def run(demo) -> None:
    demo.title("Validate: catch a broken flow before it is committed")
    demo.sh("pfgit validate qa")

    print("\n# A teammate renames a reference by hand and misspells the node:")
    demo.write("qa/flow.dag.yaml", demo.read("qa/flow.dag.yaml").replace(*TYPO))
    demo.sh("git diff --unified=0 qa/flow.dag.yaml | tail -n 2")
    demo.sh("pfgit validate qa", check_codes=(1,))
    demo.sh("pfgit validate --json qa | head -n 17", check_codes=(0, 1))

    print("\n# The pre-commit hook (hooks/pre-commit; `pfgit install` sets it up) judges what is "
          "staged:")
    demo.sh(f"cp {shlex.quote(HOOK)} .git/hooks/pre-commit")
    demo.sh(f"git add qa && PFGIT_PYTHON={shlex.quote(sys.executable)} "
            "git commit -q -m 'Tidy the qa flow'", check_codes=(1,))

    print("\n# Fix the reference: validation passes and the commit goes through.")
    demo.write("qa/flow.dag.yaml", demo.read("qa/flow.dag.yaml").replace(TYPO[1], TYPO[0]))
    demo.write("qa/build_prompt.jinja2", demo.read("qa/build_prompt.jinja2").replace(
        "You answer in one word.", "You answer in one word, no punctuation."))
    demo.sh("pfgit validate qa")
    demo.sh(f"git add qa && PFGIT_PYTHON={shlex.quote(sys.executable)} "
            "git commit -q -m 'Tidy the qa prompt' && git log --oneline -1")
    demo.sh("rm .git/hooks/pre-commit")  # later steps install their own hooks

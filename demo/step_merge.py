"""Demo step: two branches edit the qa flow; git's line merge conflicts (and would leave a reference
to a renamed node), pfgit merges cleanly; then a true conflict shown at node level and resolved."""

from __future__ import annotations

FLOW = "qa/flow.dag.yaml"
LOG_NODE = """\
  - name: log_question
    type: python
    source:
      type: code
      path: log_question.py
    inputs:
      question: ${clean_question.output}
"""
LOG_PY = ("from promptflow.core import tool\n\n\n@tool\n"
          "def log_question(question: str) -> str:\n    print(question)\n    return question\n")


def _set_style(text: str, old: str, new: str) -> str:
    assert f"style: {old}" in text
    return text.replace(f"style: {old}", f"style: {new}")


def run(demo) -> None:
    demo.title("Semantic merge: two branches edit the qa flow")
    base = demo.read(FLOW)
    style = "long" if "style: long" in base else "short"
    demo.sh("git checkout -q -b tidy-names")
    theirs = base.replace("clean_question", "normalize_question").replace(
        "path: normalize_question.py", "path: clean_question.py")
    demo.write(FLOW, _set_style(theirs, style, "short" if style == "long" else "long"))
    demo.sh("git commit -q -am 'Rename clean_question to normalize_question, change the answer style'"
            " && pfgit diff HEAD~1 HEAD")
    demo.sh("git checkout -q main")
    demo.write(FLOW, base.rstrip("\n") + "\n" + LOG_NODE)
    demo.write("qa/log_question.py", LOG_PY)
    demo.sh("git add -A && git commit -q -m 'Log the cleaned question' && pfgit diff HEAD~1 HEAD")

    print("\nPlain git (the flow file merged as text): a conflict, and the new node still reads"
          " the old node name", flush=True)
    demo.sh("echo 'flow.dag.yaml merge=text' > .git/info/attributes")
    demo.sh("git merge tidy-names", check_codes=(1,))
    demo.sh(f"sed -n '/^<<<<<<< /,/^>>>>>>> /p' {FLOW}; grep -n 'clean_question.output' {FLOW}")
    demo.sh("git merge --abort && rm .git/info/attributes")

    print("\npfgit: the same merge is clean; the rename is followed into the new node", flush=True)
    demo.sh("pfgit merge tidy-names")
    demo.sh("git --no-pager log --oneline --graph -4")
    demo.sh("pfgit diff HEAD^1 HEAD")
    demo.sh(f"grep -n -A6 'name: log_question' {FLOW}")
    demo.sh("pfgit validate qa")

    demo.title("A true conflict: both branches change the same input")
    cur = "short" if style == "long" else "long"
    demo.sh("git checkout -q -b formal")
    demo.write(FLOW, _set_style(demo.read(FLOW), cur, "formal"))
    demo.sh("git commit -q -am 'Formal answers'")
    demo.sh("git checkout -q main")
    demo.write(FLOW, _set_style(demo.read(FLOW), cur, "casual"))
    demo.sh("git commit -q -am 'Casual answers'")
    demo.sh("pfgit merge formal", check_codes=(1,))
    print("\nthe markers surround the one input, so the file stays readable:", flush=True)
    demo.sh(f"grep -n -B3 -A5 '^<<<<<<< ' {FLOW}")
    demo.sh("pfgit conflicts", check_codes=(1,))
    demo.sh("pfgit conflicts --json | head -n 12", check_codes=(0, 1))
    print("\nresolve on screen: theirs (formal) is ours with the one input changed, so take theirs;"
          " no conflict is left, and the merge changes exactly that input", flush=True)
    demo.sh(f"git checkout --theirs -- {FLOW} && grep -n 'style:' {FLOW}")
    demo.sh("pfgit conflicts")
    demo.sh(f"pfgit diff HEAD -- {FLOW}")
    demo.sh(f"git add {FLOW} && git commit -q --no-edit && git --no-pager log --oneline -1")

"""Demo step: git's text diff of a flow edit next to pfgit's semantic diff, then git's own
`git diff` / `git log -p` / `git show` printing the semantic diff through the diff driver."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def edit_flow(text: str) -> str:
    """Rename build_prompt -> make_prompt, answer in a long style, and re-indent the whole file
    with the node list indented and one input in flow style, as a visual editor might."""
    text = text.replace("build_prompt", "make_prompt").replace(
        "path: make_prompt.jinja2", "path: build_prompt.jinja2")
    text = text.replace("style: short", "style: long")
    text = text.replace("  inputs:\n    question: ${inputs.question}\n",
                        "  inputs: {question: \"${inputs.question}\"}\n")
    out = []
    in_nodes = False
    for line in text.splitlines():
        if line == "nodes:":
            in_nodes = True
            out.append(line)
        elif in_nodes and line:
            out.append("  " + line)
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def run(demo) -> None:
    flow = "qa/flow.dag.yaml"
    demo.title("Semantic diff: a node rename + one input change + a re-indent")
    demo.write(flow, edit_flow(demo.read(flow)))
    print("git's text diff: every line of the re-indented node list changed", flush=True)
    demo.sh(f"git --no-pager diff --no-ext-diff --stat -- {flow}")
    demo.sh(f"git --no-pager diff --no-ext-diff -- {flow} | head -n 24")
    print("\npfgit's semantic diff of the same edit: the rename (with the reference it rewrote)"
          " and the one input change", flush=True)
    demo.sh("pfgit diff")
    demo.sh("pfgit diff --stat")
    demo.sh("pfgit diff --json | head -n 14")
    demo.sh("pfgit diff --exit-code >/dev/null", check_codes=(1,))

    demo.title("The git diff driver: git diff, git log -p and git show print the semantic diff")
    _install_driver(demo)
    demo.sh(f"git --no-pager diff -- {flow}")
    demo.sh("git add -A && git commit -q -m 'Rename build_prompt, answer at length' && echo committed")
    demo.sh(f"git --no-pager log -p --ext-diff -1 --format='commit %h %s' -- {flow}")
    print("\nwithout --ext-diff, git log -p / git show diff pfgit's normalised form"
          " (diff.pfgit.textconv): the re-indent is gone there too", flush=True)
    demo.sh(f"git --no-pager show --format='commit %h %s' HEAD -- {flow}")

    demo.title("A formatting-only change is no semantic change")
    demo.write(flow, _reformat(demo.read(flow)))
    demo.sh(f"git --no-pager diff --no-ext-diff --shortstat -- {flow}")
    demo.sh("pfgit diff --exit-code")
    demo.sh(f"git --no-pager diff -- {flow}")
    demo.sh(f"git checkout -q -- {flow} && git status --short")


def _reformat(text: str) -> str:
    """The same flow written by another tool: sorted keys, 4-space indent, a comment."""
    import yaml

    return "# saved by another editor\n" + yaml.safe_dump(yaml.safe_load(text), sort_keys=True,
                                                          indent=4, width=60)


def _install_driver(demo) -> None:
    """`pfgit install` when it exists (it writes .gitattributes and the driver config)."""
    if os.path.exists(os.path.join(ROOT, "pfgit", "cli", "cmd_install.py")):
        demo.sh("pfgit install")
        demo.sh("git config --get-regexp '^diff\\.pfgit\\.' && cat .gitattributes")
        return
    sys.path.insert(0, ROOT)
    from pfgit.integrate.diffdriver import GITATTRIBUTES_LINES, driver_config

    demo.write(".gitattributes", "\n".join(GITATTRIBUTES_LINES) + "\n")
    for k, v in driver_config(sys.executable).items():
        demo.sh(f"git config {k} '{v}'")

"""Demo step: semantic history. The visual editor rewrites the flow file (a reformat), then
`pfgit log --node answer --metric accuracy` lists only the commits that changed that node, with
the accuracy of the runs before and after each, and `pfgit blame` names the commit behind every
field and prompt line, through the earlier rename of build_prompt (docs/history.md)."""

from __future__ import annotations

import yaml

FLOW = "qa/flow.dag.yaml"


def run(demo) -> None:
    demo.title("Semantic history: who changed a node, when, and what it did to accuracy")
    print("the visual editor saves the flow: every line moves, nothing changes", flush=True)
    data = yaml.safe_load(demo.read(FLOW))
    demo.write(FLOW, yaml.safe_dump(data, sort_keys=True, indent=4, width=200))
    demo.sh(f"git commit -q -am 'Save the flow in the visual editor' && "
            f"git --no-pager diff --shortstat HEAD~1 HEAD -- {FLOW}")
    demo.sh("pfgit log qa --node answer --metric accuracy")
    demo.sh("pfgit log qa --node make_prompt")
    demo.sh("pfgit blame qa")
    demo.sh("pfgit blame qa --node make_prompt | tail -n 6")

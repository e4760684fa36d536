"""YAML merge keys (`- <<: *common` then the keys that differ): valid YAML that promptflow loads
and runs (`pf flow validate` and `pf flow test` accept such a flow). A key given after `<<`
overrides the merged one; only a key given twice by the mapping itself is a duplicate."""

from __future__ import annotations

from pfgit.flow.readers import DirReader
from pfgit.merge.files import merge_bytes
from pfgit.run.spec import RunSpec
from pfgit.run.testline import test_flow as run_test_line
from pfgit.validate import validate_path
from run_flows import write_flow

FLOW = """\
inputs:
  q: {type: string, default: hi}
outputs:
  out: {type: string, reference: "${b.output}"}
nodes:
- &common
  name: a
  type: python
  source: {type: code, path: a.py}
  inputs:
    x: ${inputs.q}
- <<: *common
  name: b
  inputs:
    x: ${a.output}
"""
TOOL = 'from promptflow.core import tool\n\n\n@tool\ndef f(x: str) -> str:\n    return x + "!"\n'


def _problems(tmp_path, text):
    write_flow(tmp_path / "f", {"flow.dag.yaml": text, "a.py": TOOL})
    [report] = validate_path(DirReader(str(tmp_path), ""), "f")
    return [(p.code, p.line) for p in report.problems]


def test_keys_after_a_merge_key_override_it(tmp_path):
    assert _problems(tmp_path, FLOW) == []   # was: duplicate-key errors for 'name' and 'inputs'
    twice = FLOW.replace("  name: b\n", "  name: c\n  name: b\n")
    assert _problems(tmp_path, twice) == [("duplicate-key", 14)]


def test_the_flow_runs_with_the_merged_node(tmp_path):
    flow = write_flow(tmp_path / "f", {"flow.dag.yaml": FLOW, "a.py": TOOL})
    res = run_test_line(RunSpec(flow=str(flow), engine="builtin"), {})
    assert res.outputs == {"out": "hi!!"}


def test_merge_falls_back_to_lines_with_the_reason_and_keeps_both_sides():
    ours = FLOW.replace("default: hi", "default: hello")
    theirs = FLOW.replace("    x: ${a.output}\n", "    x: ${a.output}\n    y: 2\n")
    r = merge_bytes(FLOW.encode(), ours.encode(), theirs.encode())
    assert r.clean and b"default: hello" in r.data and b"    y: 2\n" in r.data
    # was: "duplicate key 'name'", for a file with none
    assert "overrides a YAML merge key" in r.fallback and "duplicate" not in r.fallback

"""pfgit validate over promptflow's own test fixtures, judged by what promptflow's tests expect.

Runs when $PFGIT_CORPUS is a checkout of microsoft/promptflow (it holds
src/promptflow/tests/test_configs); skipped otherwise. Valid fixtures must give no error; the
fixtures promptflow's tests expect to fail for a static reason must fail. Fixtures that fail only
for what a static check cannot know (a connection, an installed package, a runtime value) are
listed with the reason, so the tally stays honest.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from pfgit.flow.readers import DirReader
from pfgit.validate import validate_path

ROOT = pathlib.Path(os.environ.get("PFGIT_CORPUS", "/nonexistent")) / "src/promptflow/tests/test_configs"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="PFGIT_CORPUS is not a promptflow checkout")

# promptflow's tests expect these to fail before or while the flow is built (cited in
# tests/test_validate_pf_rules.py and docs/validation.md), or they are not runnable flows at all
INVALID = {
    "flows/chat_flow_with_multi_input_invalid", "flows/chat_flow_with_multi_output_invalid",
    "flows/prompt_tool_with_duplicated_inputs", "flows/llm_tool_with_duplicated_inputs",
    "flows/web_classification_invalid", "flows/web_classification_with_invalid_additional_include",
    "flows/failed_flow", "flows/flow_with_invalid_import",
    # fixtures for tool-meta/ordering tests only: their sources or output nodes do not exist
    "flows/flow-with_tool_settings", "flows/meta_files", "flows/unordered_nodes",
    "flows/unordered_nodes_with_activate", "flows/unordered_nodes_with_skip",
    "eager_flows/dummy_flow_with_invalid_entry", "eager_flows/incorrect_entry",
    "eager_flows/invalid_extra_fields_nodes", "eager_flows/invalid_illegal_input_type",
    "eager_flows/invalid_illegal_path", "eager_flows/multiple_flex_yaml",
    "eager_flows/multiple_flow_yaml",
}
# wrong_flows/* all fail in promptflow's tests; these only with the runtime environment
NEEDS_ENVIRONMENT = {
    "wrong_flows/flow_llm_with_wrong_conn": "the connection's type",
    "wrong_flows/invalid_connection": "a connection that does not exist",
    "wrong_flows/flow_output_unserializable": "an output value at run time",
    "wrong_flows/wrong_api": "the APIs of an installed provider",
    "wrong_flows/wrong_provider": "the installed providers",
    "wrong_flows/wrong_module": "an importable module",
    "wrong_flows/wrong_package_in_package_tools": "the installed package tools",
    "wrong_flows/wrong_tool_in_package_tools": "the installed package tools",
}


def test_promptflow_fixtures_tally():
    reports = [r for sub in ("flows", "eager_flows", "prompty", "wrong_flows")
               for r in validate_path(DirReader(str(ROOT), ""), sub)]
    folder = {r.path: r for r in reports}
    wrongly_rejected = [p for p, r in folder.items() if r.errors and not p.startswith("wrong_flows/")
                        and p not in INVALID and not p.startswith("prompty/")]
    missed = [p for p in INVALID if p in folder and not folder[p].errors]
    missed += [p for p, r in folder.items() if p.startswith("wrong_flows/") and not r.errors
               and p not in NEEDS_ENVIRONMENT]
    assert (wrongly_rejected, missed) == ([], [])

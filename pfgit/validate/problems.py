"""What validation reports: the Problem record and the one registry of problem codes.

Codes are kebab-case and stable (scripts and CI match on them); each has a fixed severity and a
one-line description. docs/validation.md documents every code with a failing example, and a test
checks that the two agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"

# code -> (severity, one-line description). Grouped by the module that reports them.
CODES: dict = {
    # structure.py: can the flow file be read, and are its keys the right shape
    "unreadable-file": (ERROR, "a file cannot be read (permission, symlink loop, a folder)"),
    "file-too-large": (ERROR, "a file is larger than 10 MB and is not read"),
    "bad-encoding": (ERROR, "a file is not valid UTF-8"),
    "yaml-syntax": (ERROR, "the flow file is not valid YAML"),
    "empty-file": (ERROR, "the flow file has no content"),
    "not-a-mapping": (ERROR, "the flow file's top level is not a mapping"),
    "duplicate-key": (ERROR, "a key appears twice in one mapping (promptflow's YAML loader rejects it)"),
    "unknown-key": (WARNING, "a key promptflow does not read (often a typo)"),
    "bad-type": (ERROR, "a value has the wrong shape (a list where a mapping is needed, ...)"),
    "bad-value": (ERROR, "a value outside the allowed set (node type, source type, input type, ...)"),
    "missing-key": (ERROR, "a required key is absent (node name, input type, node source, ...)"),
    "duplicate-node": (ERROR, "two nodes have the same name"),
    "multiple-flow-files": (ERROR, "a folder holds more than one flow file"),
    # markers.py: an unfinished merge
    "conflict-markers": (ERROR, "a file of the flow holds conflict markers left by a merge"),
    # references.py: ${...} references, outputs and the dependency graph
    "dangling-ref": (ERROR, "a reference names a node that does not exist"),
    "unknown-input": (ERROR, "a reference names a flow input that does not exist"),
    "bad-ref-section": (ERROR, "a node input or activate.when reference uses a section other than 'output'"),
    "output-ref-section": (WARNING, "a flow output reference uses a section other than 'output' (ignored)"),
    "empty-output-ref": (ERROR, "a flow output has no reference"),
    "embedded-ref": (WARNING, "${...} inside a longer string is plain text to promptflow"),
    "cycle": (ERROR, "nodes depend on each other in a circle"),
    # sources.py (+ signatures.py): the files nodes run
    "missing-source": (ERROR, "a node's source file does not exist (after additional_includes)"),
    "missing-include": (ERROR, "an additional_includes entry does not exist"),
    "path-outside-repo": (ERROR, "a source path or additional_includes entry resolves outside the repository (not read)"),
    "python-syntax": (ERROR, "a Python source file does not compile"),
    "jinja-syntax": (ERROR, "a Jinja2 template does not parse"),
    "tool-count": (ERROR, "a python node's source does not define exactly one @tool function"),
    "unknown-tool-input": (ERROR, "a python node input is not a parameter of its @tool function"),
    "missing-tool-input": (ERROR, "a required parameter of a python node's @tool function has no input"),
    "missing-connection": (WARNING, "a connection parameter of a python node's @tool function has no input (a run can supply it)"),
    "reserved-prompt-input": (ERROR, "a prompt or llm node's template uses a parameter name of the tool that renders it"),
    # assistant.py
    "bad-assistant-definition": (ERROR, "an assistant node's assistant_definition.yaml is missing or its tools are invalid"),
    # chat.py
    "multiple-chat-io": (ERROR, "more than one input has is_chat_input (or output is_chat_output)"),
    "missing-chat-output": (WARNING, "a chat input but no output with is_chat_output"),
    # variants.py
    "unknown-default-variant": (ERROR, "default_variant_id names no variant (or is missing)"),
    "missing-variants": (ERROR, "a node has use_variants but no node_variants entry"),
    "unused-variants": (WARNING, "node_variants for a node that does not use variants (or does not exist)"),
    # aggregation.py
    "aggregation-ref": (ERROR, "a non-aggregation node references an aggregation node"),
    "aggregation-activate": (ERROR, "an aggregation node's activate.when references a non-aggregation node"),
    "output-aggregation-ref": (WARNING, "a flow output references an aggregation node (promptflow drops it)"),
    # activate.py
    "activate-incomplete": (ERROR, "activate lacks 'when' or 'is'"),
    # flex.py: flex flows and .prompty files
    "missing-entry": (ERROR, "a flex flow has no entry"),
    "bad-entry": (ERROR, "a flex flow's entry is not 'module:function'"),
    "missing-entry-file": (WARNING, "a flex flow's entry module is not a file or package in the flow folder"),
    "unknown-flex-key": (ERROR, "a key promptflow's flex flow schema does not allow (it refuses to load the flow)"),
    "complex-entry-type": (ERROR, "a flex flow entry parameter has a type promptflow cannot serve (not str, int, float, bool, list, dict, ...)"),
    "missing-entry-function": (ERROR, "a flex flow's entry module (a file in the flow folder) does not define the entry"),
    "code-outside-flow": (ERROR, "a flex flow's 'code' folder (its entry's import root) is outside the flow folder"),
    "missing-front-matter": (ERROR, "a .prompty file does not start with '---' front matter"),
}


@dataclass
class Problem:
    code: str
    severity: str
    message: str
    node: str | None
    file: str
    line: int | None

    def to_json(self) -> dict:
        return asdict(self)


def problem(code: str, message: str, file: str, line: int | None = 1,
            node: str | None = None) -> Problem:
    """A Problem with the severity the registry gives its code."""
    return Problem(code, CODES[code][0], message, node, file, line)

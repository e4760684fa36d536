"""Chat flows: `is_chat_input` / `is_chat_output` flags, as promptflow's is_executable_chat_flow
(_utils/flow_utils.py) judges them for `pf flow test --interactive`, serving and `pf flow build`.

At most one input and one output may carry the flag ("chat flow does not support multiple chat
inputs/outputs"): an error. A chat input without a chat output ("chat output is not configured")
only stops the chat UI, so it is a warning. Applies to DAG and flex flows alike.
"""

from __future__ import annotations

from .context import Context


def check(ctx: Context) -> None:
    data = ctx.flow.data
    inputs = _flagged(data.get("inputs"), "is_chat_input")
    outputs_def = data.get("outputs")
    outputs = _flagged(outputs_def, "is_chat_output")
    for key, flag, names in (("inputs", "is_chat_input", inputs), ("outputs", "is_chat_output", outputs)):
        if len(names) > 1:
            listed = ", ".join(f"'{n}'" for n in names)
            ctx.add("multiple-chat-io", f"{len(names)} {key} have {flag}: true ({listed}); a chat "
                    f"flow has at most one", (key, names[1], flag))
    if inputs and not outputs and isinstance(outputs_def, dict) and outputs_def:
        ctx.add("missing-chat-output", f"input '{inputs[0]}' has is_chat_input: true but no output "
                "has is_chat_output: true; promptflow's chat UI and `pf flow test --interactive` "
                "refuse the flow (\"chat output is not configured\")", ("inputs", inputs[0],
                                                                     "is_chat_input"))


def _flagged(defs, flag: str) -> list:
    if not isinstance(defs, dict):
        return []
    return [name for name, d in defs.items() if isinstance(d, dict) and d.get(flag) is True]

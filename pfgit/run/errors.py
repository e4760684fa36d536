"""Errors of a run: a run-level one stops the run before any line; a line error fails one line."""

from __future__ import annotations

from ..errors import PfgitError


class RunError(PfgitError):
    """The run cannot start (bad flow, mapping, data, variant ...): exit 2, nothing executed."""


class LineError(Exception):
    """One line failed: `kind` is promptflow's error class name, `node` the failing node."""

    def __init__(self, message: str, kind: str = "UserError", node: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.node = node

    def as_dict(self) -> dict:
        return {"type": self.kind, "message": self.message, "node": self.node}


# The line is named only where promptflow names it (flow_validator.py: `idx`): a DAG flow's lines
# (`pf flow test` runs line 0); flex flows and prompty validate without it (ScriptExecutor), so
# their engines pass no line number.


def input_not_found(name: str, line_number=None) -> "LineError":
    """promptflow's InputNotFound for a flow input neither given nor defaulted (DAG, flex, prompty)."""
    where = f"in line {line_number} of input data" if line_number is not None else "in input data"
    return LineError(f"The input for flow is incorrect. The value for flow input '{name}' is not provided "
                     f"{where}. Please review your input data or remove this input in your flow if it's no "
                     "longer needed.", "InputNotFound")


def input_type_error(name: str, value, value_type: str, line_number=None) -> "LineError":
    """promptflow's InputTypeError, or InputParseError for a string that is not the JSON a
    list/object input needs (flow_validator._parse_input_value)."""
    where = f" in line {line_number} of input data" if line_number is not None else ""
    if value_type in ("list", "object") and isinstance(value, str):
        import json

        try:
            json.loads(value)
        except ValueError as e:
            return LineError(f"Failed to parse the flow input. The value for flow input '{name}'{where} was "
                             f"interpreted as JSON string since its type is '{value_type}'. However, the value "
                             f"'{value}' is invalid for JSON parsing. Error details: ({type(e).__name__}) {e}. "
                             "Please make sure your inputs are properly formatted.", "InputParseError")
    return LineError(f"The input for flow is incorrect. The value for flow input '{name}'{where} does not match the "
                     f"expected type '{value_type}'. Please change flow input type or adjust the input value in "
                     "your input data.", "InputTypeError")


def output_unserializable(name: str, value) -> "LineError | None":
    """promptflow's FlowOutputUnserializable for a flow output JSON cannot hold (run_tracker.py), or None."""
    import json

    try:
        json.dumps(value)
        return None
    except (TypeError, ValueError) as e:
        return LineError(f"The output '{name}' for flow is incorrect. The output value is not JSON serializable. "
                         f"JSON dump failed: ({type(e).__name__}) {e}. Please verify your flow output and make sure "
                         "the value serializable.", "FlowOutputUnserializable")

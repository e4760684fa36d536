"""Column mapping: from data rows (and a base run's lines) to the flow inputs of each line
(promptflow-runner.md §7.1, promptflow-format.md §3.3).

Sources: `${data.col}` (the --data row), `${run.outputs.o}` (the base run's output line),
`${run.inputs.i}` (the base run's inputs of that line). A value that is not a whole `${...}` is a
literal. Without a mapping an input takes the same-named data column. promptflow differs in two
places, both reported by `notes`:
- it prefers an input's default over a same-named column unless the input is mapped explicitly;
  pfgit maps the column (the data was given to be used);
- `${run.inputs.x}` reads the base run's original data file; pfgit reads the inputs the base run
  actually ran with (recorded in its snapshot), which differ only where a default applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import RunError

REF = re.compile(r"^\$\{([^{}]+)\}$")
SOURCES = ("data", "run.outputs", "run.inputs")


@dataclass
class Mapping:
    entries: dict = field(default_factory=dict)   # input -> ("ref", source, column) | ("literal", value)
    notes: list = field(default_factory=list)
    effective: dict = field(default_factory=dict)  # input -> text, as recorded in run.json

    def apply(self, data_row: dict | None, base_out: dict | None = None, base_in: dict | None = None) -> dict:
        """The raw flow inputs of one line; a column absent from this row leaves the input absent."""
        rows = {"data": data_row, "run.outputs": base_out, "run.inputs": base_in}
        out = {}
        for k, e in self.entries.items():
            if e[0] == "literal":
                out[k] = e[1]
                continue
            row = rows[e[1]]
            if row is not None and e[2] in row:
                out[k] = row[e[2]]
        return out

    def uses(self, source: str) -> bool:
        return any(e[0] == "ref" and e[1] == source for e in self.entries.values())


def parse_reference(text: str, columns: dict) -> tuple[str, str] | None:
    """(source, column) of `${...}`: split at the first dot giving a source that has the column
    named by the rest (`${data.a.b}` is column "a.b"). None when unresolvable."""
    m = REF.match(text)
    if not m:
        return None
    inner = m.group(1)
    for src in SOURCES:
        if inner.startswith(src + "."):
            col = inner[len(src) + 1:]
            if col in (columns.get(src) or ()):
                return src, col
    return None


def build(flow_inputs: dict, user: dict, columns: dict, source_names: dict | None = None,
          default_is_absent=None) -> Mapping:
    """`flow_inputs`: name -> definition ({"default": ...} when it has one); `columns`: source ->
    set of column names ("data", "run.outputs", "run.inputs"; absent source: no such source)."""
    mp = Mapping()
    names = source_names or {"data": "the data", "run.outputs": "the base run's outputs",
                              "run.inputs": "the base run's inputs"}
    bad = []
    for k, v in (user or {}).items():
        if k == "line_number":
            continue
        if isinstance(v, str) and REF.match(v):
            ref = parse_reference(v, columns)
            if ref is None:
                bad.append((k, v))
                continue
            mp.entries[k] = ("ref",) + ref
        else:
            mp.entries[k] = ("literal", v)
        mp.effective[k] = v
    if bad:
        parts = []
        for k, v in bad:
            inner = REF.match(v).group(1)
            src = next((s for s in SOURCES if inner.startswith(s + ".")), None)
            if src is None:
                parts.append(f"{k}={v}: unknown source (use ${{data.x}}, ${{run.outputs.y}} or ${{run.inputs.z}})")
            elif columns.get(src) is None:
                parts.append(f"{k}={v}: no {'--run base run' if src.startswith('run') else '--data'} given")
            else:
                cols = ", ".join(sorted(columns[src])) or "none"
                parts.append(f"{k}={v}: no column '{inner[len(src) + 1:]}' in {names[src]} (columns: {cols})")
        raise RunError("column mapping: " + "; ".join(parts))
    from ..errors import unknown_inputs

    unknown = unknown_inputs(mp.entries, flow_inputs, "column mapping of input")
    if unknown:  # promptflow passes it in the line's inputs, where no node reads it
        mp.notes.append(unknown)
    data_cols = columns.get("data") or set()
    missing = []
    for k, d in flow_inputs.items():
        if k in mp.entries:
            continue
        d = d if isinstance(d, dict) else {}
        has_default = d.get("default") is not None
        if k in data_cols:
            mp.entries[k] = ("ref", "data", k)
            mp.effective[k] = "${data.%s}" % k
            if has_default:
                mp.notes.append(f"input '{k}' has a default ({d.get('default')!r}) and the data has a column "
                                f"'{k}': pfgit maps the column; promptflow would silently use the default "
                                f"(map it explicitly, --column-mapping {k}='${{data.{k}}}', to get the same there)")
        elif not has_default and "default" not in d:
            missing.append(k)
    if missing and columns.get("data") is not None:
        cols = ", ".join(sorted(data_cols)) or "none"
        raise RunError("missing data column for flow input" + ("s " if len(missing) > 1 else " ")
                       + ", ".join(f"'{m}'" for m in missing)
                       + f" (data columns: {cols}; map with --column-mapping NAME='${{data.COLUMN}}')")
    return mp

"""Images inside a DAG flow's list/object inputs, which the built-in engine does not load.

promptflow (`_utils/multimedia_utils.py::MultimediaProcessor.load_multimedia_data`, run by
FlowExecutor for every DAG line) turns each `{"data:image/<fmt>;path|base64|url": value}` dict
found anywhere inside a `list` or `object` flow input into an `Image` (a file read relative to the
data, a URL fetched), and writes images in outputs back as files. Flex flows and prompty
(ScriptExecutor) do not. The built-in engine has no images, so `--engine auto` hands such a run to
promptflow (engine/select.py: the given inputs, or a scan of the data file), and the built-in
engine fails a line holding one rather than pass the tool a dict where promptflow passes an Image.
"""

from __future__ import annotations

import os
import re

# promptflow's MIME_PATTERN: a one-key dict whose key matches is an image
IMAGE_KEY = re.compile(r"^data:image/(.*);(path|base64|url)$")
# the same key in a data file's bytes, as JSON writes it (also escaped inside a JSON string or a
# CSV cell): a cheap over-approximation, only used to pick the engine
_KEY_BYTES = re.compile(rb'data:image/[^"\\;\s]*;(?:path|base64|url)\\?"+\s*:')
_CHUNK = 1 << 20


def is_image_dict(value) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and IMAGE_KEY.match(key) is not None


def holds_image(value) -> bool:
    """Is there an image dict anywhere inside `value` (lists and dicts, any depth)?"""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            if is_image_dict(v):
                return True
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return False


def image_inputs(declared: dict, inputs: dict) -> list:
    """Names of the list/object inputs (promptflow's `declared` types) holding an image."""
    return [k for k, d in declared.items()
            if isinstance(d, dict) and d.get("type") in ("list", "object") and k in inputs and holds_image(inputs[k])]


def data_may_hold_images(path: str) -> bool:
    """Does the data file (or any file of a data folder) contain an image key? Read in chunks;
    unreadable files count as no (reading the data reports them)."""
    files = [path] if not os.path.isdir(path) else [
        os.path.join(d, f) for d, _, names in os.walk(path) for f in sorted(names)]
    for fp in files:
        try:
            with open(fp, "rb") as f:
                tail = b""
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    if _KEY_BYTES.search(tail + chunk):
                        return True
                    tail = chunk[-256:]      # a key split between two chunks
        except OSError:
            continue
    return False

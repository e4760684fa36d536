"""LLM record/replay: responses stored as files keyed by a hash of the request, so an evaluation
re-runs offline and deterministically (`--llm-cache DIR --llm-mode record|replay|auto`).

The key covers the API, the provider and the request body the SDK is given (model or deployment,
messages/prompt/input and every parameter); it never covers the endpoint address or any header,
so nothing secret is hashed or stored and a recording made against Azure replays in CI.
Files are `DIR/<key[:2]>/<key>.json`, written atomically; concurrent writers of the same key
write the same content.
"""

from __future__ import annotations

import hashlib
import json
import os

from ...fsutil import write_atomic
from ..spec import LLM_MODES
from .errors import LLMError

MODES = LLM_MODES
MAX_ENTRY = 64 << 20   # bytes: a recorded response is kilobytes; a bigger entry is not one


def request_key(api: str, provider: str, body: dict) -> str:
    canon = json.dumps({"api": api, "provider": provider, "body": body}, sort_keys=True,
                       ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


class LLMCache:
    def __init__(self, directory: str, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"--llm-mode must be one of {', '.join(MODES)}, not '{mode}'")
        self.dir = os.path.abspath(directory)
        self.mode = mode

    def path(self, key: str) -> str:
        return os.path.join(self.dir, key[:2], key + ".json")

    def _inside(self, path: str) -> bool:
        """Does `path` resolve inside the cache folder? Its entries are repository content (a
        pull request can commit `.llm-cache/ab -> /home/runner/.ssh`): a symlink out of the folder
        is neither read nor written through."""
        from ...flow.readers import within

        return within(os.path.realpath(path), os.path.realpath(self.dir))

    def load(self, key: str) -> dict | None:
        """The recorded response, or None when there is no readable one (a missing, malformed,
        oversized entry or one outside the folder: `unreadable(key)` says why)."""
        return self._read(key)[0]

    def unreadable(self, key: str) -> str | None:
        return self._read(key)[1]

    def _read(self, key: str) -> tuple:
        p = self.path(key)
        if not os.path.lexists(p):
            return None, None
        if not self._inside(p):
            return None, "it resolves outside the cache folder (a symbolic link): not read"
        try:
            with open(p, "rb") as f:
                data = f.read(MAX_ENTRY + 1)
            if len(data) > MAX_ENTRY:
                return None, f"it is larger than {MAX_ENTRY >> 20} MB: not read"
            rec = json.loads(data)
        except (OSError, ValueError, RecursionError) as e:
            return None, f"it is not readable JSON ({type(e).__name__})"
        if not (isinstance(rec, dict) and isinstance(rec.get("response"), dict)):
            return None, "it has no 'response' object"
        return rec["response"], None

    def save(self, key: str, api: str, body: dict, response: dict) -> None:
        p = self.path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if not self._inside(os.path.dirname(p)):
            raise LLMError(f"{os.path.dirname(p)} resolves outside the LLM cache folder {self.dir} "
                           "(a symbolic link): nothing recorded there", "LLMCacheError")
        data = json.dumps({"key": key, "api": api, "request": body, "response": response},
                          ensure_ascii=False, indent=1, default=str)
        write_atomic(p, data.encode("utf-8"), prefix=".tmp-")

    def miss(self, key: str) -> LLMError:
        why = self.unreadable(key)
        if why:
            return LLMError(f"the recorded LLM response {self.path(key)} cannot be replayed: {why}; "
                            "record it again with --llm-mode record or auto", "LLMReplayMiss")
        return LLMError(f"no recorded LLM response for this request in {self.dir} (key {key[:12]}); "
                        "record it with --llm-mode record or auto", "LLMReplayMiss")

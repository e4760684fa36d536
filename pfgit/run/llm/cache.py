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
from .errors import LLMError

MODES = ("record", "replay", "auto")


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

    def load(self, key: str) -> dict | None:
        try:
            with open(self.path(key), encoding="utf-8") as f:
                rec = json.load(f)
            return rec["response"] if isinstance(rec, dict) and isinstance(rec.get("response"), dict) else None
        except (OSError, ValueError):
            return None

    def save(self, key: str, api: str, body: dict, response: dict) -> None:
        p = self.path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = json.dumps({"key": key, "api": api, "request": body, "response": response},
                          ensure_ascii=False, indent=1, default=str)
        write_atomic(p, data.encode("utf-8"), prefix=".tmp-")

    def miss(self, key: str) -> LLMError:
        return LLMError(f"no recorded LLM response for this request in {self.dir} (key {key[:12]}); "
                        "record it with --llm-mode record or auto", "LLMReplayMiss")

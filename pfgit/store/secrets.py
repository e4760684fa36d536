"""Secrets policy: connection keys and secret-named variables never enter a snapshot.

run.json stores connection NAMES and environment variable NAMES only; free-form settings lose keys
that name a secret; secret values are replaced by `***` in outputs, inputs, logs and settings
before anything is written, and nothing else is changed. The rule (docs/security.md):

- a NAME is secret when its last word is one of SECRET_LAST_WORDS (`OPENAI_API_KEY`,
  `GITHUB_TOKEN`, `DB_PASSWORD`, `clientSecret`) or any word is one of SECRET_ANY_WORDS
  (`AWS_SECRET_ACCESS_KEY`, `PASSWORD_FILE`); words are split at `_ - .` and camelCase, so
  `TOKENIZERS_PARALLELISM`, `GIT_AUTHOR_NAME`, `max_tokens` and `KEY_VAULT_NAME` are not secrets;
- a VALUE is masked when it belongs to a secret name (the run's environment, the recording
  process's environment, a connection's fields), or was handed over as a secret, and it is at least
  MIN_SECRET_LEN characters long and not a JSON literal (`true`, `false`, `null`, a number):
  such values cannot be told from data, and masking them would change data;
- in JSON text every string literal is decoded before it is compared, so a secret written with
  escapes (`\\/`, `\\u00e9`, `\\"`, `\\\\`) is masked too; the rest of the line keeps its bytes.
"""

from __future__ import annotations

import json
import os
import re

SECRET_LAST_WORDS = {"key", "keys", "apikey", "secret", "secrets", "password", "passwd", "pwd",
                     "passphrase", "token", "credential", "credentials", "auth", "authorization",
                     "connectionstring", "sas"}
SECRET_ANY_WORDS = {"secret", "secrets", "password", "passwd", "passphrase", "credential",
                    "credentials", "apikey"}
MASK = "***"
MIN_SECRET_LEN = 8

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_JSON_STRING = re.compile(rb'"(?:[^"\\\x00-\x1f]|\\.)*"')


def name_words(name: str) -> list:
    """`OPENAI_API_KEY` -> [openai, api, key]; `clientSecret` -> [client, secret]."""
    words = [w.lower() for w in _WORDS.findall(str(name))]
    joined = []  # `connection_string`, `api_key` read as one word too
    for a, b in zip(words, words[1:]):
        joined.append(a + b)
    return words + joined


def is_secret_key(key: str) -> bool:
    words = [w.lower() for w in _WORDS.findall(str(key))]
    if not words:
        return False
    last = words[-1]
    last2 = "".join(words[-2:])
    return (last in SECRET_LAST_WORDS or last2 in SECRET_LAST_WORDS
            or any(w in SECRET_ANY_WORDS for w in name_words(key)))


def maskable(value) -> bool:
    """Long enough, and not a value JSON data is made of anyway (true, false, null, 123, 1e5)."""
    if value is None or isinstance(value, (bool, int, float)):
        return False
    s = str(value)
    if len(s) < MIN_SECRET_LEN:
        return False
    try:
        parsed = json.loads(s)
    except (ValueError, RecursionError):
        return True
    return parsed is not None and not isinstance(parsed, (bool, int, float))


def drop_secret_keys(obj):
    """A copy of a JSON-like value without secret-looking keys (recursively)."""
    if isinstance(obj, dict):
        return {k: drop_secret_keys(v) for k, v in obj.items() if not is_secret_key(k)}
    if isinstance(obj, list):
        return [drop_secret_keys(v) for v in obj]
    return obj


def connection_names(connections: dict) -> dict:
    """{"node.field": NAME}; a value given as a connection object/dict keeps only its name."""
    out = {}
    for k, v in (connections or {}).items():
        if isinstance(v, str):
            out[str(k)] = v
        elif isinstance(v, dict):
            out[str(k)] = str(v.get("name") or k)
        else:
            out[str(k)] = str(getattr(v, "name", None) or k)
    return out


def secret_values(environment: dict | None = None, extra: list | None = None,
                  connections: dict | None = None, process_env: dict | None = None) -> list:
    """Every value that must be masked, longest first (so overlapping secrets mask fully)."""
    vals = set()
    for k, v in (environment or {}).items():
        if is_secret_key(k):
            vals.add(str(v))
    for v in extra or []:
        vals.add(str(v))
    for conn in (connections or {}).values():
        if isinstance(conn, dict):
            _collect(conn, vals)
    env = os.environ if process_env is None else process_env
    for k, v in env.items():  # the recording process's own secrets (OPENAI_API_KEY, ...)
        if is_secret_key(k):
            vals.add(v)
    return sorted((v for v in vals if maskable(v)), key=lambda v: (-len(v), v))


def _collect(d: dict, vals: set) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _collect(v, vals)
        elif is_secret_key(k) and v is not None:
            vals.add(str(v))


def encoded_forms(value: str) -> list:
    """The byte strings `value` may appear as in text: raw UTF-8, and JSON-escaped (non-ASCII
    kept or `\\u` escaped in lower or upper case hex, `/` kept or escaped as `\\/`)."""
    forms = {value.encode("utf-8", "surrogatepass")}
    for ascii_only in (False, True):
        j = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        variants = {j}
        if ascii_only:
            variants.add(re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), j))
        for v in list(variants):
            variants.add(v.replace("/", "\\/"))
        forms |= {v.encode("utf-8", "surrogatepass") for v in variants}
    return sorted((f for f in forms if f), key=len, reverse=True)


class Redactor:
    def __init__(self, values: list):
        self.secrets = list(values)
        self.raw = [v.encode("utf-8", "surrogatepass") for v in values]
        self.forms = sorted({f for v in values for f in encoded_forms(v)}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def bytes(self, data: bytes) -> bytes:
        """Free text (logs): every encoded form replaced, then quoted JSON strings decoded and
        checked (a log often holds JSON with any escapes)."""
        for f in self.forms:
            if f in data:
                data = data.replace(f, MASK.encode())
        return self.json_line(data)

    def json_line(self, line: bytes) -> bytes:
        """A JSON text: secrets masked inside string literals only (decoded first, so escaped
        forms are found); everything else keeps its bytes, so the line stays valid JSON."""
        if not self.secrets or (b"\\" not in line and not any(r in line for r in self.raw)):
            return line

        def fix(m):
            lit = m.group(0)
            if b"\\" not in lit and not any(r in lit for r in self.raw):
                return lit
            try:
                s = json.loads(lit)
            except ValueError:
                return lit
            masked = self.text(s)
            if masked == s:
                return lit
            try:
                return json.dumps(masked, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate escape: keep the text ASCII
                return json.dumps(masked).encode("ascii")

        return _JSON_STRING.sub(fix, line)

    def text(self, s: str) -> str:
        for v in self.secrets:
            if v in s:
                s = s.replace(v, MASK)
        return s

    def value(self, obj):
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.value(k): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        return obj

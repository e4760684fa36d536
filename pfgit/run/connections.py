"""Connections: promptflow's connection YAML, stored outside any repository in the user's config
folder (`$XDG_CONFIG_HOME/pfgit/connections/<name>.json`, else `~/.config/pfgit/connections`), one
file per connection with mode 0600 in a 0700 folder (like git's credential store), written
atomically. Values may be `${env:VAR}`, resolved when a run uses the connection, so the file need
not hold the secret at all. promptflow's own local connections (pf.sqlite) are found too: their
names are listed, and their secrets are read through promptflow's API when a run needs one.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
from dataclasses import dataclass, field

from ..errors import PfgitError, ReadError, UsageError
from ..fsutil import write_atomic

# yaml type -> (promptflow class name, required keys, secret keys)
TYPES = {
    "open_ai": ("OpenAI", ("api_key",), ("api_key",)),
    "azure_open_ai": ("AzureOpenAI", ("api_base",), ("api_key",)),
    "serverless": ("Serverless", ("api_key", "api_base"), ("api_key",)),
    "serp": ("Serp", ("api_key",), ("api_key",)),
    "cognitive_search": ("CognitiveSearch", ("api_base",), ("api_key",)),
    "azure_content_safety": ("AzureContentSafety", ("api_key", "endpoint"), ("api_key",)),
    "form_recognizer": ("FormRecognizer", ("api_key", "endpoint"), ("api_key",)),
    "azure_ai_services": ("AzureAIServices", ("endpoint",), ("api_key",)),
    "qdrant": ("Qdrant", ("api_key", "api_base"), ("api_key",)),
    "weaviate": ("Weaviate", ("api_key", "api_base"), ("api_key",)),
    "custom": ("Custom", ("secrets",), ()),
}
DEFAULTS = {"azure_open_ai": {"api_type": "azure", "api_version": "2024-02-01", "auth_mode": "key"},
            "cognitive_search": {"api_version": "2023-11-01", "auth_mode": "key"}}
_CLASS_TO_TYPE = {v[0].lower(): k for k, v in TYPES.items()}
_META_KEYS = {"name", "type", "module", "$schema"}
# promptflow-format.md 6: a custom strong-typed connection is a custom one plus these (and `module`)
STRONG_TYPE_KEYS = ("custom_type", "package", "package_version")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
PLACEHOLDER = "<user-input>"


def type_key(t: str) -> str:
    """'azure_open_ai' for 'AzureOpenAI', 'AzureOpenAIConnection', 'azure_open_ai'."""
    t = str(t or "").strip()
    if t in TYPES:
        return t
    squashed = t.lower().replace("_", "")
    squashed = squashed[:-len("connection")] if squashed.endswith("connection") else squashed
    if squashed in _CLASS_TO_TYPE:
        return _CLASS_TO_TYPE[squashed]
    raise UsageError(f"unknown connection type '{t}' (one of {', '.join(TYPES)})")


@dataclass
class Connection:
    name: str
    type: str                                   # yaml type name (open_ai, azure_open_ai, custom, ...)
    values: dict = field(default_factory=dict)  # fields; custom: {"configs": {...}, "secrets": {...}}
    module: str = "promptflow.connections"
    source: str = "pfgit"                       # or "promptflow" (pf's local store)

    @property
    def class_name(self) -> str:
        return TYPES[self.type][0] + "Connection"

    @property
    def secrets(self) -> dict:
        if self.type == "custom":
            return dict(self.values.get("secrets") or {})
        return {k: v for k, v in self.values.items() if _secret_field(self.type, k)}

    @property
    def configs(self) -> dict:
        if self.type == "custom":
            return dict(self.values.get("configs") or {})
        return {k: v for k, v in self.values.items() if not _secret_field(self.type, k)}

    def masked(self) -> dict:
        """What `show`/`list` print: every secret value as `******` (promptflow's mask), secret-named
        extra fields (`client_secret`) and a URL's password (`https://u:******@host`) too."""
        out = {"name": self.name, "type": self.type, "module": self.module}
        if self.type == "custom":
            out["configs"] = {k: hide_url_password(v) for k, v in self.configs.items()}
            out["secrets"] = {k: "******" for k in self.secrets}
            out.update({k: self.values[k] for k in STRONG_TYPE_KEYS if k in self.values})
        else:
            out.update({k: ("******" if _secret_field(self.type, k) and v else hide_url_password(v))
                        for k, v in self.values.items()})
        return out

    def resolved(self) -> "Connection":
        """A copy with `${env:VAR}` values replaced; an unset variable is an error naming it."""
        def res(key, v):
            if isinstance(v, dict):
                return {k: res(k, x) for k, x in v.items()}
            m = _ENV_REF.match(v) if isinstance(v, str) else None
            if not m:
                return v
            if m.group(1) not in os.environ:
                raise UsageError(f"connection '{self.name}': {key} refers to ${{env:{m.group(1)}}}, "
                                 "which is not set")
            return os.environ[m.group(1)]
        return Connection(self.name, self.type, {k: res(k, v) for k, v in self.values.items()},
                          self.module, self.source)

    def resolved_dict(self) -> dict:
        """Flat dict for the LLM client: {"name", "type", "api_key", "api_base"/"base_url", ...}."""
        r = self.resolved()
        return {"name": r.name, "type": r.type, **r.values}

    def secret_values(self) -> list:
        """The resolved secret values: hand them to RunResult.secrets so no snapshot holds them."""
        return secret_values_of(self.resolved_dict())

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "module": self.module, **self.values}


_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)([^/@\s]+)@")


def _secret_field(ctype: str, key: str) -> bool:
    """A field of a typed connection holding a secret: its type's (api_key), or any field the
    secrets policy names one (docs/security.md: client_secret, access_token, ...)."""
    from ..store.secrets import is_secret_key

    return key in TYPES[ctype][2] or is_secret_key(key)


def hide_url_password(v):
    """`https://user:******@host/...` for a URL holding a password; anything else as it is."""
    return _URL_PASSWORD.sub(r"\1******@", v) if isinstance(v, str) else v


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise UsageError(f"invalid connection name '{name}' (letters, digits, '_', '.', '-')")
    return name


def _text(v):
    """promptflow's connection fields are strings: YAML's `api_version: 2024-02-01` is a date to
    the YAML parser, and numbers are numbers; keep what the user wrote."""
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return str(v)
    return v


def from_mapping(data: dict, where: str = "connection") -> Connection:
    if not isinstance(data, dict):
        raise ReadError("a connection file must be a YAML mapping", file=where)
    if not data.get("type"):
        raise ReadError("missing 'type' (open_ai, azure_open_ai, custom, ...)", file=where)
    try:
        ctype = type_key(data["type"])
    except UsageError as e:   # named with its file, like every other problem of the file
        raise ReadError(e.message, file=where) from None
    name = check_name(str(data.get("name") or ""))
    values = {k: v for k, v in data.items() if k not in _META_KEYS}
    if ctype == "custom":
        for k in ("configs", "secrets"):
            v = values.get(k) or {}
            if not isinstance(v, dict):
                raise ReadError(f"'{k}' must be a mapping", file=where)
            values[k] = {str(a): ("" if b is None else str(_text(b))) for a, b in v.items()}
        for k in STRONG_TYPE_KEYS:   # a custom strong-typed connection names its class and package
            if values.get(k) is None:
                values.pop(k, None)
            elif not isinstance(_text(values[k]), str):
                raise ReadError(f"'{k}' must be a string, not a {type(values[k]).__name__}", file=where)
            else:
                values[k] = _text(values[k])
        extra = set(values) - {"configs", "secrets", *STRONG_TYPE_KEYS}
        if extra:
            raise ReadError(f"unknown key(s) for a custom connection: {', '.join(sorted(extra))}", file=where)
        if not values["secrets"]:
            raise ReadError("a custom connection needs 'secrets' (a mapping)", file=where)
    else:
        values = {**DEFAULTS.get(ctype, {}), **{k: _text(v) for k, v in values.items() if v is not None}}
        for k, v in values.items():
            if not isinstance(v, str):   # promptflow's fields are strings (the value is not shown)
                raise ReadError(f"'{k}' must be a string, not a {type(v).__name__}", file=where)
        missing = [k for k in TYPES[ctype][1] if not values.get(k)]
        if missing:
            raise ReadError(f"a {ctype} connection needs {', '.join(missing)}", file=where)
    secrets = values.get("secrets", {}) if ctype == "custom" else {k: values.get(k) for k in TYPES[ctype][2]}
    for k, v in secrets.items():
        if v == PLACEHOLDER:
            raise ReadError(f"secret '{k}' is still '{PLACEHOLDER}': give it with --set "
                            f"{'secrets.' if ctype == 'custom' else ''}{k}=VALUE or as ${{env:VAR}}", file=where)
    return Connection(name, ctype, values, str(data.get("module") or "promptflow.connections"))


def apply_sets(data: dict, sets: list) -> dict:
    """`--set k=v` / `--set secrets.k=v` overrides (promptflow's syntax)."""
    data = copy.deepcopy(data)
    for item in sets or []:
        if "=" not in item:
            raise UsageError(f"--set expects KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        d = data
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise UsageError(f"--set {key}: '{p}' is not a mapping")
        d[parts[-1]] = value
    return data


def load_file(path: str, sets: list | None = None) -> Connection:
    import yaml

    try:
        with open(path, encoding="utf-8-sig") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise UsageError(f"cannot read: {e.strerror}", file=path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ReadError(f"not valid YAML: {getattr(e, 'problem', e)}", file=path,
                        line=mark.line + 1 if mark else None)
    if data is not None and not isinstance(data, dict):   # before --set writes into it
        return from_mapping(data, where=path)
    return from_mapping(apply_sets(data or {}, sets or []), where=path)


def config_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "pfgit", "connections")


class ConnectionStore:
    """pfgit's connections, plus promptflow's local ones (read-only) when promptflow has a home."""

    def __init__(self, directory: str | None = None, pf_home: str | None = None):
        self.dir = directory or config_dir()
        self.pf_home = pf_home

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, check_name(name) + ".json")

    def save(self, conn: Connection) -> str:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        path = self._path(conn.name)
        data = json.dumps(conn.to_json(), indent=2, ensure_ascii=False).encode("utf-8")
        write_atomic(path, data, prefix=".tmp-", mode=0o600)
        return path

    def delete(self, name: str) -> bool:
        try:
            os.unlink(self._path(name))
            return True
        except FileNotFoundError:
            return False

    def names(self) -> list:
        try:
            files = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        return [f[:-5] for f in files if f.endswith(".json") and not f.startswith(".")]

    def _read(self, name: str) -> Connection | None:
        path = self._path(name)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ReadError(f"unreadable connection file: {e}", file=path)
        return from_mapping(data, where=path)

    def get(self, name: str) -> Connection:
        """pfgit's connection NAME, else promptflow's; UsageError naming both places when absent."""
        conn = self._read(name)
        if conn is not None:
            return conn
        if name in pf_connection_types(self.pf_home):
            return pf_connection(name)
        raise UsageError(f"unknown connection '{name}' (create it with `pfgit connection create --file "
                         f"conn.yaml`; looked in {self.dir} and promptflow's local connections)")

    def list(self) -> list:
        """[Connection] of pfgit's store, then promptflow's (those with only name and type)."""
        out = []
        for n in self.names():
            try:
                out.append(self._read(n))
            except PfgitError:
                continue  # one bad file does not hide the others
        mine = {c.name for c in out}
        for n, t in sorted(pf_connection_types(self.pf_home).items()):
            if n not in mine:
                try:
                    ctype = type_key(t)
                except UsageError:
                    ctype = "custom"
                out.append(Connection(n, ctype, {}, source="promptflow"))
        return out


def pf_connection_types(home: str | None = None) -> dict:
    """{name: promptflow type} of promptflow's local connections, read from pf.sqlite (no secrets)."""
    from ..store.pf_import import _query_pf, default_home

    rows = _query_pf(home or default_home(), "SELECT connectionName, connectionType FROM connection")
    return {r["connectionName"]: r["connectionType"] for r in rows}


def pf_connection(name: str) -> Connection:
    """A promptflow local connection with its secrets, through promptflow's own API."""
    os.environ.setdefault("PF_DISABLE_TELEMETRY", "true")
    try:
        from promptflow.client import PFClient
    except ImportError:
        raise UsageError(f"connection '{name}' is promptflow's and promptflow is not installed")
    try:
        c = PFClient().connections.get(name, with_secrets=True)
        data = c._to_dict()
    except Exception as e:
        raise UsageError(f"cannot read promptflow's connection '{name}': {type(e).__name__}: {e}")
    data["name"] = name
    conn = from_mapping(data, where=f"promptflow connection {name}")
    conn.source = "promptflow"
    return conn


def get_connection(name: str) -> dict:
    """The runner's lookup: connection NAME as a dict in promptflow's YAML shape with `${env:}`
    resolved (flat fields; custom: `configs`/`secrets` maps); KeyError when unknown."""
    store = ConnectionStore()
    try:
        conn = store.get(name)
    except UsageError as e:
        if "unknown connection" in e.message:
            raise KeyError(name) from None
        raise
    return conn.resolved_dict()


def secret_values_of(conn) -> list:
    """Every secret value of a resolved connection dict (or Connection): hand them to
    RunResult.secrets. Custom connections' secrets count whatever their key names."""
    if isinstance(conn, Connection):
        return conn.secret_values()
    if not isinstance(conn, dict):
        return []
    try:
        ctype = type_key(conn.get("type", "custom"))
    except UsageError:
        ctype = "custom"
    if ctype == "custom":
        vals = list((conn.get("secrets") or {}).values())
        fields = (conn.get("configs") or {}).values()
    else:
        vals = [v for k, v in conn.items() if _secret_field(ctype, k)]
        fields = conn.values()
    vals += [m.group(2) for m in map(_URL_PASSWORD.match, (v for v in fields if isinstance(v, str))) if m]
    return [str(v) for v in vals if v]

"""The `promptflow` names python tools import, for when the real package is not used.

Served by an import hook (a sys.meta_path finder) installed only while the runner executes tools:
nothing named `promptflow` is ever put on sys.path, so other code never mistakes it for the real
package. Covers the public tool API (promptflow-format.md §7): `tool`, `log_metric`, `ToolProvider`,
the connection classes, `trace`, the model configurations. A tool importing anything else from
promptflow gets ModuleNotFoundError/ImportError, which engine/select.py turns into "this node needs
the promptflow engine".

By default the built-in engine uses this layer even when promptflow is installed: importing
`promptflow.core` costs seconds (6 s measured on the reference machine) while a whole python-only
batch runs in a fraction of that. PFGIT_PROMPTFLOW_IMPORTS=real uses the installed package.
"""

from __future__ import annotations

import dataclasses
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

from .metrics import log_metric


def tool(func=None, *, name=None, description=None, type=None, input_settings=None,
         streaming_option_parameter=None, **kwargs):
    """@tool / @tool(...): marks the function; calling it is unchanged."""
    def mark(f):
        try:
            f.__pfgit_tool__ = True
        except AttributeError:  # a builtin or bound method: wrap it
            def g(*a, **kw):
                return f(*a, **kw)
            g.__pfgit_tool__ = True
            g.__name__ = getattr(f, "__name__", "tool")
            return g
        return f
    return mark(func) if callable(func) else mark


def trace(func=None, **kwargs):
    """@trace / @trace(...): promptflow records spans; values are unchanged."""
    return func if callable(func) else (lambda f: f)


def start_trace(*args, **kwargs):
    return None


class ToolProvider:
    def __init__(self, *args, **kwargs):
        pass


class _Connection:
    """configs/secrets as promptflow's connection entities expose them."""
    TYPE = "custom"

    def __init__(self, configs: dict | None = None, secrets: dict | None = None, name: str | None = None, **fields):
        self.__dict__["name"] = name
        self.__dict__["configs"] = dict(configs or {})
        self.__dict__["secrets"] = dict(secrets or {})
        for k, v in fields.items():
            (self.secrets if k in _SECRET_FIELDS else self.configs)[k] = v

    def __getattr__(self, key):
        d = self.__dict__
        if key in d.get("secrets", {}):
            return d["secrets"][key]
        if key in d.get("configs", {}):
            return d["configs"][key]
        if key in ("api_key", "organization", "base_url", "api_base", "api_version", "api_type",
                   "endpoint", "auth_mode", "resource_id"):
            return None
        raise AttributeError(key)

    def __setattr__(self, key, value):
        (self.secrets if key in self.secrets or key in _SECRET_FIELDS else self.configs)[key] = value

    def __getitem__(self, key):
        return getattr(self, key)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


_SECRET_FIELDS = {"api_key", "key"}


class CustomConnection(_Connection):
    TYPE = "custom"


class CustomStrongTypeConnection(_Connection):
    TYPE = "custom"


class OpenAIConnection(_Connection):
    TYPE = "open_ai"


class AzureOpenAIConnection(_Connection):
    TYPE = "azure_open_ai"


class ServerlessConnection(_Connection):
    TYPE = "serverless"


class SerpConnection(_Connection):
    TYPE = "serp"


class CognitiveSearchConnection(_Connection):
    TYPE = "cognitive_search"


class AzureContentSafetyConnection(_Connection):
    TYPE = "azure_content_safety"


class FormRecognizerConnection(_Connection):
    TYPE = "form_recognizer"


class AzureAIServicesConnection(_Connection):
    TYPE = "azure_ai_services"


class QdrantConnection(_Connection):
    TYPE = "qdrant"


class WeaviateConnection(_Connection):
    TYPE = "weaviate"


CONNECTION_CLASSES = {c.__name__: c for c in (
    CustomConnection, CustomStrongTypeConnection, OpenAIConnection, AzureOpenAIConnection,
    ServerlessConnection, SerpConnection, CognitiveSearchConnection, AzureContentSafetyConnection,
    FormRecognizerConnection, AzureAIServicesConnection, QdrantConnection, WeaviateConnection)}
CLASS_BY_TYPE = {c.TYPE: c for c in CONNECTION_CLASSES.values() if c is not CustomStrongTypeConnection}


@dataclasses.dataclass
class OpenAIModelConfiguration:
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    organization: str | None = None
    connection: str | None = None


@dataclasses.dataclass
class AzureOpenAIModelConfiguration:
    azure_deployment: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    api_key: str | None = None
    connection: str | None = None


_TOOL_API = {"tool": tool, "log_metric": log_metric, "ToolProvider": ToolProvider, "trace": trace}
MODULES = {
    "promptflow": dict(_TOOL_API),
    "promptflow.core": dict(_TOOL_API, OpenAIModelConfiguration=OpenAIModelConfiguration,
                            AzureOpenAIModelConfiguration=AzureOpenAIModelConfiguration),
    "promptflow.connections": dict(CONNECTION_CLASSES),
    "promptflow.entities": dict(CONNECTION_CLASSES),
    "promptflow.tracing": {"trace": trace, "start_trace": start_trace},
    "promptflow._core": {},
    "promptflow._core.tool": {"tool": tool, "ToolProvider": ToolProvider},
    "promptflow._core.metric_logger": {"log_metric": log_metric},
}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MODULES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__dict__.update(MODULES[module.__name__])
        module.__path__ = []          # a package, so `promptflow.core` resolves through us
        module.__pfgit_compat__ = True


_FINDER = _Finder()


def use_real_promptflow() -> bool:
    if os.environ.get("PFGIT_PROMPTFLOW_IMPORTS", "compat") != "real":
        return False
    return importlib.util.find_spec("promptflow") is not None


def install() -> bool:
    """Serve `promptflow.*` from this layer (unless the real package is asked for). Returns True
    when the compat layer is active."""
    if use_real_promptflow():
        return False
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    return True


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in list(sys.modules):
        if name in MODULES and getattr(sys.modules[name], "__pfgit_compat__", False):
            del sys.modules[name]


def is_tool(obj) -> bool:
    """Marked by our @tool or promptflow's (which sets `__tool`)."""
    return bool(getattr(obj, "__pfgit_tool__", False)) or "__tool" in getattr(obj, "__dict__", {})


def make_connection(conn: dict, class_name: str | None = None):
    """A connection object for a tool parameter, from promptflow's connection-YAML shape."""
    real = sys.modules.get("promptflow.connections")
    ctype = str(conn.get("type") or "custom")
    fields = {k: v for k, v in conn.items() if k not in ("type", "name", "module", "$schema",
                                                          "configs", "secrets")}
    if real is not None and not getattr(real, "__pfgit_compat__", False):
        cls_name = class_name or {c.TYPE: n for n, c in CONNECTION_CLASSES.items()}.get(ctype, "CustomConnection")
        cls = getattr(real, cls_name, None) or real.CustomConnection
        if ctype == "custom":
            return cls(configs=dict(conn.get("configs") or {}), secrets=dict(conn.get("secrets") or {}),
                       name=conn.get("name"))
        return cls(name=conn.get("name"), **fields)
    cls = CONNECTION_CLASSES.get(class_name or "") or CLASS_BY_TYPE.get(ctype, CustomConnection)
    return cls(configs=conn.get("configs"), secrets=conn.get("secrets"), name=conn.get("name"), **fields)

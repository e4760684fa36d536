"""`.prompty` files (promptflow-runner.md §8.2): YAML front matter (`${env:VAR}` and
`${file:path}` resolved) + a Jinja prompt; the request is the front matter's `parameters` verbatim
plus `model` and the messages (or prompt), sent through pfgit.run.llm.send_body.

Inputs: declared `inputs` (else inferred from `sample`), converted by declared type; every input is
escaped for chat parsing (prompty escapes all of them). Output: the content string; with
`response_format: json_object` the parsed JSON reduced to the declared `outputs`; batch lines store
a non-dict result as `{"output": value}`.
"""

from __future__ import annotations

import json
import os
import re

from ...flow.readers import outside_repository
from ..convert import ConvertError, parse_value
from ..errors import LineError, RunError, input_not_found, input_type_error, output_unserializable
from .dag import LineResult

_ENV = re.compile(r"^\$\{env:([^}]+)\}$")
_FILE = re.compile(r"^\$\{file:([^}]+)\}$")


def _resolve(value, base: str):
    if isinstance(value, dict):
        return {k: _resolve(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    if isinstance(value, str):
        m = _ENV.match(value)
        if m:
            return os.environ.get(m.group(1), value)
        m = _FILE.match(value)
        if m:
            path = os.path.join(base, m.group(1))
            if outside_repository(path, base):   # as validate's path-outside-repo
                raise LineError(f"'{value}' is outside the repository (pfgit does not read it)")
            if not os.path.isfile(path):     # promptflow refuses the prompty when loading it
                raise RunError(f"Cannot find the reference file {m.group(1)}.")
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise LineError(f"'{value}': {getattr(e, 'strerror', None) or e}") from None
            import yaml

            try:
                if path.endswith(".json"):
                    return json.loads(text)
                if path.endswith((".yaml", ".yml")):
                    return yaml.safe_load(text)
            except (ValueError, yaml.YAMLError) as e:
                raise LineError(f"'{value}': not valid {path.rsplit('.', 1)[1].upper()}: "
                                f"{str(e).splitlines()[0]}") from None
            return text
    return value


def _empty_config(conf: dict) -> bool:
    """promptflow's is_empty_connection_config: nothing but the deployment/model is set, so the
    connection is built from the environment alone (Connection.from_env)."""
    return not {k for k, v in conf.items() if v and k != "type"} - {"azure_deployment", "model"}


def _from_env(node: str, cls: str, names: tuple) -> dict:
    """The environment variables a connection is built from, as promptflow's from_env requires."""
    if any(os.environ.get(n) is None for n in names):
        raise LineError(f"Required environment variables {list(names)} to build {cls} not set.",
                        "RequiredEnvironmentVariablesNotSetError", node)
    return {n: os.environ[n] for n in names}


_IMAGE_MD = re.compile(r"!\[[^\]]*\]\(")


def _needs_images(meta: dict, template: str) -> str | None:
    """promptflow turns image inputs and markdown images of a prompty's template into image
    content parts; the built-in engine sends text only."""
    inputs = meta.get("inputs") if isinstance(meta.get("inputs"), dict) else {}
    for k, d in inputs.items():
        if isinstance(d, dict) and d.get("type") == "image":
            return f"input '{k}' is an image (images are not loaded by the built-in engine)"
    if _IMAGE_MD.search(template or ""):
        return "its template has a markdown image (images are not loaded by the built-in engine)"
    return None


class PromptyEngine:
    uses_llm = True
    splits_over_processes = True   # lines are independent: batch.py may fork workers (procpool.py)
    warnings: list = []

    def __init__(self, fdir: str, ffile: str, run_name=None, llm_cache=None, get_connection=None):
        import yaml

        from ...flow.load import split_prompty
        from ..llm.usage import TokenCounter

        self.fdir, self.ffile = fdir, ffile
        self.usage = TokenCounter()
        self.llm_cache = llm_cache
        self.get_connection = get_connection
        try:
            with open(ffile, encoding="utf-8") as f:
                front, first, body, _ = split_prompty(f.read())
            meta = yaml.safe_load(front) or {}
        except (OSError, ValueError, yaml.YAMLError) as e:
            raise RunError(f"cannot read the prompty file: {e}", file=ffile) from None
        if not isinstance(meta, dict):
            raise RunError("front matter must be a mapping", file=ffile)
        self.meta_raw = meta
        self.template = body
        model = meta.get("model") or {}
        if not isinstance(model, dict):
            raise RunError("'model' must be a mapping", file=ffile)
        self.api = model.get("api", "chat")
        self.model = model
        self.inputs = meta.get("inputs") if isinstance(meta.get("inputs"), dict) else \
            {k: {"type": "string"} for k in (meta.get("sample") or {})}
        self.outputs = meta.get("outputs") if isinstance(meta.get("outputs"), dict) else None
        self.name = os.path.splitext(os.path.basename(ffile))[0]
        try:    # `${file:...}` references must exist before any line, as promptflow loads them
            for part in (model.get("configuration"), model.get("parameters"), meta.get("sample")):
                _resolve(part, fdir)
        except (RunError, LineError) as e:   # outside the repository, unreadable, not JSON/YAML
            raise RunError(e.message, file=ffile) from None
        except (OSError, ValueError) as e:
            raise RunError(f"cannot read a file the prompty references: {e}", file=ffile) from None
        why = _needs_images(meta, body)
        if why:
            from .plan import NeedsPromptflow

            raise NeedsPromptflow(f"the prompty needs the promptflow engine: {why}", tool=why, file=ffile)

    def input_defs(self) -> dict:
        return {k: (v if isinstance(v, dict) else {"type": "string"}) for k, v in self.inputs.items()}

    def sample_inputs(self) -> dict:
        s = self.meta_raw.get("sample")
        return dict(s) if isinstance(s, dict) else {}

    def flow_env(self) -> dict:
        return {}

    def cwd(self) -> str:
        return self.fdir

    def keeps_for_aggregation(self) -> bool:
        return False

    def connection_names(self) -> dict:
        c = (self.model.get("configuration") or {})
        return {"model.connection": c["connection"]} if isinstance(c, dict) and c.get("connection") else {}

    def close(self) -> None:
        pass

    def run_aggregation(self, lines):
        return {}, None

    def _connection_and_model(self):
        conf = _resolve(self.model.get("configuration") or {}, self.fdir)
        if conf.get("connection"):
            if self.get_connection is None:
                raise LineError(f"connection '{conf['connection']}' cannot be resolved", "ConnectionNotFound", self.name)
            try:
                conn = self.get_connection(conf["connection"])
            except KeyError:
                raise LineError(f"connection '{conf['connection']}' is not found", "ConnectionNotFound", self.name) from None
            from ..llm import connection_dict

            conn = connection_dict(conn)
        elif conf.get("type") in ("azure_openai", "azure_open_ai") and _empty_config(conf):
            conn = _from_env(self.name, "AzureOpenAIConnection", ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY"))
            conn = {"type": "azure_open_ai", "api_base": conn["AZURE_OPENAI_ENDPOINT"],
                    "api_key": conn["AZURE_OPENAI_API_KEY"], "api_version": os.environ.get("OPENAI_API_VERSION")}
        elif conf.get("type") in ("openai", "open_ai") and _empty_config(conf):
            conn = _from_env(self.name, "OpenAIConnection", ("OPENAI_API_KEY",))
            conn = {"type": "open_ai", "api_key": conn["OPENAI_API_KEY"], "base_url": os.environ.get("OPENAI_BASE_URL"),
                    "organization": os.environ.get("OPENAI_ORG_ID")}
        elif conf.get("type") == "azure_openai":
            conn = {"type": "azure_open_ai", "api_base": conf.get("azure_endpoint") or os.environ.get("AZURE_OPENAI_ENDPOINT"),
                    "api_key": conf.get("api_key") or os.environ.get("AZURE_OPENAI_API_KEY"),
                    "api_version": conf.get("api_version") or os.environ.get("OPENAI_API_VERSION")}
        elif conf.get("type") not in (None, "openai", "open_ai", "OpenAI", "AzureOpenAI"):
            raise LineError(f"Not Support connection type {conf.get('type')} for embedding api. Connection type "
                            "should be in [AzureOpenAI, OpenAI].", "UnknownConnectionType", self.name)  # promptflow's words
        else:
            conn = {"type": "open_ai", "api_key": conf.get("api_key") or os.environ.get("OPENAI_API_KEY"),
                    "base_url": conf.get("base_url") or os.environ.get("OPENAI_BASE_URL"),
                    "organization": conf.get("organization")}
        model = conf.get("model") or conf.get("azure_deployment")
        return {k: v for k, v in conn.items() if v is not None}, model

    def run_line(self, raw: dict, line_number, keep_node_runs: bool = False) -> LineResult:
        from .. import llm
        from ..llm.chat import build_messages, render_jinja_template

        res = LineResult(line_number, raw)
        values = {}
        for k, d in self.input_defs().items():
            if k in raw:
                v = raw[k]
            elif "default" in d:
                v = d["default"]
            else:
                res.error = input_not_found(k)   # no line: as promptflow's ScriptExecutor
                return res
            try:
                values[k] = parse_value(v, d.get("type", "string"))
            except ConvertError:
                res.error = input_type_error(k, v, d.get("type", "string"))
                return res
        res.inputs = values
        try:
            conn, model = self._connection_and_model()
            params = dict(_resolve(self.model.get("parameters") or {}, self.fdir))
            body = dict(params)
            if model:
                body["model"] = model
            if self.api == "completion":
                body["prompt"] = render_jinja_template(self.template, **values)
            else:
                body["messages"] = build_messages(self.template, values, tuple(values))
            ctx = llm.LLMContext(node=self.name, line=line_number, cache=self.llm_cache, tokens=self.usage)
            response, _ = llm.send_body(self.api, conn, body, ctx)
            out = self._output(response, params)
        except llm.LLMError as e:
            res.error = LineError(e.message, e.error_type, self.name)
            return res
        except LineError as e:
            res.error = e
            return res
        res.outputs = out if isinstance(out, dict) else {"output": out}
        return res

    def _output(self, response, params: dict):
        if self.model.get("response") == "all":
            raise output_unserializable("output", response) or LineError(
                "model.response 'all' returns the raw response", "FlowOutputUnserializable", self.name)
        if self.api == "completion":
            return response.choices[0].text
        choice = response.choices[0]
        if choice.finish_reason in ("tool_calls", "function_call"):
            return choice.message.model_dump()
        content = choice.message.content
        rf = params.get("response_format") or {}
        if isinstance(rf, dict) and rf.get("type") == "json_object":
            try:
                obj = json.loads(content)
            except ValueError as e:
                raise LineError(f"OpenAI API hits exception: {type(e).__name__}: {e}", "LLMError", self.name) from None
            if self.outputs:
                missing = [k for k in self.outputs if k not in obj]
                if missing:
                    raise LineError(f"output {', '.join(missing)} not found in the response", "OutputNotFound", self.name)
                obj = {k: obj[k] for k in self.outputs}
            return obj
        return content

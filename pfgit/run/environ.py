"""The environment a run's tools see: the flow's and the run's environment variables (`.env`
files, `${connection.key}` values), the working folder, and where what they print goes (the run's
stdout.log, and with `--stream` the console too). Set for the run and restored after it."""

from __future__ import annotations

import json
import os
import sys

from .errors import RunError
from .spec import RunSpec


def env_for(spec: RunSpec, flow_env: dict, get_connection, secrets: list | None = None) -> dict:
    """Flow YAML environment_variables overridden by the run's (§9); ${conn.key} resolved. The
    secret values of every connection so referenced are added to `secrets`: a flow may copy
    such a variable into its outputs, and the snapshot must mask it like a node's connection."""
    env = {str(k): (json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in (flow_env or {}).items()}
    run_env = spec.environment_variables
    if isinstance(run_env, str):
        run_env = read_dotenv(run_env)
    env.update({str(k): str(v) for k, v in (run_env or {}).items()})
    import re

    for k, v in env.items():
        m = re.match(r"^\$\{([^.{}]+)\.([^{}]+)\}$", v)
        if m and get_connection is not None:
            try:
                conn = get_connection(m.group(1))
            except KeyError:
                raise RunError(f"environment variable {k}: connection '{m.group(1)}' not found") from None
            val = conn.get(m.group(2), (conn.get("configs") or {}).get(m.group(2), (conn.get("secrets") or {}).get(m.group(2))))
            if val is None:
                raise RunError(f"environment variable {k}: connection '{m.group(1)}' has no key '{m.group(2)}'")
            env[k] = str(val)
            if secrets is not None:
                from .connections import secret_values_of

                secrets.extend(secret_values_of(conn))
    return env


def flow_env_secrets(spec: RunSpec, get_connection) -> list:
    """`env_for`'s secrets for a run the promptflow engine makes (it resolves the variables
    itself; an unresolvable one is its error to report)."""
    from .engine.plan import load

    secrets: list = []
    try:
        flow, _, _ = load(spec.flow)
        env = flow.data.get("environment_variables") if isinstance(flow.data, dict) else None
        env_for(spec, env if isinstance(env, dict) else {}, get_connection, secrets)
    except RunError:
        pass
    return secrets


def read_dotenv(path: str) -> dict:
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("export "):
                    line = line[7:]
                if "=" not in line:
                    raise RunError("expected KEY=VALUE", file=path, line=n)
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip().strip("'\"")
    except OSError as e:
        raise RunError(e.strerror or str(e), file=path) from None
    return out


class RunEnv:
    """Export variables (and the flow folder as cwd) for the run, restore afterwards. With
    `stdout_path`, what tools print goes to that file (recorded as the run's logs/stdout.log, as
    promptflow keeps it in its flow logs) so `pfgit run --json` stays clean."""

    def __init__(self, env: dict, cwd: str, stdout_path: str | None = None, tee=None):
        self.env, self.cwd, self.stdout_path, self.tee = env, cwd, stdout_path, tee

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        self.old_cwd = os.getcwd()
        os.chdir(self.cwd)       # promptflow runs tools from the flow folder
        self.old_stdout = sys.stdout
        if self.stdout_path:
            self.log = open(self.stdout_path, "a", encoding="utf-8")
            sys.stdout = _Tee(self.log, self.tee) if self.tee is not None else self.log
        return self

    def __exit__(self, *exc):
        if self.stdout_path:
            sys.stdout = self.old_stdout
            self.log.close()
        os.chdir(self.old_cwd)
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Tee:
    """What tools print, into the run's log and onto the console (`--stream`)."""

    def __init__(self, log, console):
        self.log, self.console = log, console

    def write(self, s: str) -> int:
        self.log.write(s)
        self.write_console(s)
        return len(s)

    def write_console(self, s: str) -> None:
        try:
            self.console.write(s)
            if "\n" in s:               # live, also from worker processes writing into a pipe
                self.console.flush()
        except (OSError, ValueError):   # the console went away (a closed pipe): the log goes on
            pass

    def flush(self) -> None:
        self.log.flush()
        try:
            self.console.flush()
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        return False

    @property
    def buffer(self):
        return _TeeBytes(self)

    def __getattr__(self, name):
        # what else tools ask of sys.stdout (encoding, errors, fileno, ...) is the log file's, as
        # without --stream: a tool calling sys.stdout.isatty() or .buffer failed only with it
        return getattr(self.log, name)


class _TeeBytes:
    """`sys.stdout.buffer` under `--stream`: the bytes into the log, their text onto the console
    (which neutralises it on a terminal)."""

    def __init__(self, tee: _Tee):
        self.tee = tee

    def write(self, b) -> int:
        self.tee.log.flush()                 # after the text written before it
        self.tee.log.buffer.write(b)
        self.tee.log.buffer.flush()
        self.tee.write_console(bytes(b).decode("utf-8", "replace"))
        return len(b)

    def flush(self) -> None:
        self.tee.flush()

    def __getattr__(self, name):
        return getattr(self.tee.log.buffer, name)

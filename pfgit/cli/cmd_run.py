"""`pfgit run` (batch and evaluation runs, recorded as snapshot commits) and `pfgit test` (one
line, nothing written): thin wrappers over pfgit.run.batch and pfgit.run.testline (docs/run.md)."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer


def rewrite_argv(args: list, longs=()) -> list:
    """pf's argparse spellings: abbreviated options and several values after one flag (see
    pfgit.run.argv)."""
    from ..run.argv import expand_abbreviations, expand_multi

    return expand_multi(expand_abbreviations(args, longs))


def _connections(items) -> dict:
    from ..run.argv import pairs
    from ..run.errors import RunError

    out: dict = {}
    for k, v in pairs(items, "--connections").items():
        if "." not in k:
            raise RunError(f"--connections takes NODE.FIELD=VALUE (e.g. chat.connection=my_conn), got '{k}'")
        node, fld = k.split(".", 1)
        out.setdefault(node, {})[fld] = v
    return out


def _env(items):
    from ..run.argv import environment_option

    return environment_option(items)


def _pairs_or_file(items, what: str) -> dict:
    """pf's `--inputs` / `--init`: KEY=VALUE pairs, or one JSON (or JSONL: first line) file."""
    from ..run.argv import pairs

    if items and len(items) == 1 and "=" not in items[0]:
        import os

        from ..run.errors import RunError
        from ..run.testline import read_inputs_file

        if not os.path.exists(items[0]):   # a K=V pair without its '=' reads as a file name
            raise RunError(f"{what} takes KEY=VALUE pairs or a JSON file: '{items[0]}' is neither")
        return read_inputs_file(items[0])
    return pairs(items, what)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _print_outcome(o, json_out: bool) -> None:
    from ..output import emit_json

    if json_out:
        emit_json(o.as_dict())
        return
    done = o.total if o.done is None else o.done
    lines = f"{done - o.failed}/{o.total} lines"
    if o.failed:
        lines += f", {o.failed} failed"
    print(f"run {o.name}: {o.status} ({lines}, engine {o.engine})")
    user = {k: v for k, v in o.metrics.items() if not k.startswith("__pfgit__")}
    if user:
        print("metrics: " + "  ".join(f"{k}={_short(json.dumps(v, ensure_ascii=False))}"
                                      for k, v in sorted(user.items())))
    tok = o.metrics.get("__pfgit__.tokens.total")
    if tok:
        print(f"tokens: {tok}")
    if o.commit:
        print(f"snapshot {o.commit[:12]} (refs/pfgit/runs/{o.name})")


# options promptflow refuses with --resume-from (PFClient.run), plus pfgit's own that would change
# what the recorded run did; the CLI names each one given
_RESUME_FROM_REFUSES = ("--flow", "--data", "--column-mapping", "--run", "--variant", "--connections", "--init",
                        "--file", "--resume", "--engine", "--source")
_SETTINGS_OWNER = {"--resume-from": "the recorded run", "--resume": "the interrupted run", "--source": "the folder"}


def _refuse_options(opt: str, given: dict, refused) -> None:
    """One line naming the options given with `opt` that it takes its settings from elsewhere."""
    from ..run.errors import RunError

    bad = [k for k in refused if given.get(k)]
    if bad:
        raise RunError(f"{opt} cannot be combined with {', '.join(bad)} (the run's settings are "
                       f"{_SETTINGS_OWNER[opt]}'s)")


# what `pf run create --source DIR` takes besides the folder: its --set display_name, description
# and tags.K (promptflow's _parse_metadata_args), and pfgit's options for the same fields
SOURCE_OPTIONS = ("--source", "--set", "--display-name", "--description", "--tags")


def source_overrides(set_items, display_name, description, tags) -> dict:
    """{display_name, description, tags} given with --source; a --set key pf does not take there,
    or one given twice (pf: "Duplicate argument"), is refused in one line."""
    from ..run.argv import pairs
    from ..run.errors import RunError

    out: dict = {}
    given_tags: dict = {}
    for it in set_items or []:
        key, eq, value = it.partition("=")
        key = key.strip()
        if not eq:
            raise RunError(f"--set must be KEY=VALUE, got '{it}'")
        if key in ("display_name", "description"):
            if key in out:
                raise RunError(f"--set {key} given twice")
            out[key] = value
        elif key.startswith("tags.") and len(key) > 5:
            if key[5:] in given_tags:
                raise RunError(f"--set {key} given twice")
            given_tags[key[5:]] = value
        else:
            raise RunError(f"--source cannot be combined with --set {key} (only display_name, "
                           "description, tags.K, as pf run create --source: the run's settings "
                           "are the folder's)")
    for k, v in (("display_name", display_name), ("description", description)):
        if v is not None:
            out[k] = v
    if tags:
        given_tags.update(pairs(tags, "--tags"))
    if given_tags:
        out["tags"] = given_tags
    return out


def _run_source(source: str, given: dict, json_out: bool, overrides: dict) -> None:
    """`pf run create --source DIR` is `pfgit runs import DIR` (same output); the run is the
    folder's as recorded (name included): only its display name, description and tags may be
    given (`--set`, as pf), any other option is refused."""
    from ..run.errors import RunError
    from ..store.pf_import import is_run_folder
    from .cmd_runs import import_and_report

    _refuse_options("--source", given, tuple(k for k in given if k not in SOURCE_OPTIONS))
    if not is_run_folder(source):
        raise RunError("not a promptflow run folder (no snapshot/, flow_outputs/ or meta.json)", file=source)
    raise typer.Exit(import_and_report([source], False, json_out, overrides))


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(flow: Optional[str] = typer.Option(None, "--flow", help="Flow folder, flow file or .prompty."),
            data: Optional[str] = typer.Option(None, "--data", help="Data: .jsonl, .csv, .json or a folder."),
            column_mapping: Optional[List[str]] = typer.Option(None, "--column-mapping", help="INPUT='${data.col}' | '${run.outputs.o}' | '${run.inputs.i}' | literal (several after one flag)."),
            base_run: Optional[str] = typer.Option(None, "--run", help="Base run to evaluate (lines joined by line number)."),
            variant: Optional[str] = typer.Option(None, "--variant", help="'${node.variant_id}': run that variant of the node (default: each node's default_variant_id)."),
            connections: Optional[List[str]] = typer.Option(None, "--connections", help="NODE.connection=NAME, NODE.deployment_name=X, NODE.model=Y."),
            environment_variables: Optional[List[str]] = typer.Option(None, "--environment-variables", help="K=V pairs and .env files; with no value, the .env found here or above."),
            name: Optional[str] = typer.Option(None, "--name", "-n", help="Run name (default: <flow>[_<variant>]_<time>, as pf)."),
            display_name: Optional[str] = typer.Option(None, "--display-name", help="The run's display name, as pf's (kept in run.json)."),
            description: Optional[str] = typer.Option(None, "--description", help="Free text kept with the run."),
            tags: Optional[List[str]] = typer.Option(None, "--tags", help="K=V pairs."),
            file: Optional[str] = typer.Option(None, "--file", "-f", help="A promptflow run.yml (options given here override it)."),
            init: Optional[List[str]] = typer.Option(None, "--init", help="Flex class flows: K=V init kwargs, or a JSON file."),
            workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Lines in flight (default 16 for LLM flows, 4 otherwise)."),
            processes: Optional[int] = typer.Option(None, "--processes", min=1, help="Worker processes sharing the lines in flight (default: 2 for LLM runs of 8x --workers lines or more on 2+ cores, else 1)."),
            engine: str = typer.Option("auto", "--engine", help="auto | builtin | promptflow."),
            resume: Optional[str] = typer.Option(None, "--resume", help="Finish an interrupted run: only its missing lines."),
            llm_cache: Optional[str] = typer.Option(None, "--llm-cache", help="Folder of recorded LLM responses."),
            llm_mode: Optional[str] = typer.Option(None, "--llm-mode", help="record | replay | auto (default auto)."),
            json_out: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
            stream: bool = typer.Option(False, "--stream", help="Show each finished line and what the flow's tools print, as it happens (on stderr with --json)."),
            set_: Optional[List[str]] = typer.Option(None, "--set", help="KEY=VALUE run fields, as pf: display_name, description, tags.K, properties.K, variant, column_mapping.K, connections.NODE.FIELD, environment_variables.K."),
            resume_from: Optional[str] = typer.Option(None, "--resume-from", help="A new run with recorded run NAME's settings and flow: its succeeded lines copied, the others run."),
            source: Optional[str] = typer.Option(None, "--source", help="Record a promptflow run folder (as `pfgit runs import DIR`)."),
            ) -> None:
        """Run a flow over data (or evaluate a base run) and record it as a snapshot commit."""
        from dataclasses import replace

        from ..run.argv import pairs
        from ..run.batch import Console, run_batch
        from ..run.errors import RunError
        from ..run.spec import ENGINES, LLM_MODES, RunSpec

        if engine not in ENGINES:
            raise RunError(f"--engine must be one of {', '.join(ENGINES)}")
        if llm_mode is not None and llm_mode not in LLM_MODES:   # 'reply' ran as if recording
            raise RunError(f"--llm-mode must be one of {', '.join(LLM_MODES)}, not '{llm_mode}'")
        given = {"--flow": flow, "--data": data, "--column-mapping": column_mapping, "--run": base_run,
                 "--variant": variant, "--connections": connections, "--init": init, "--file": file,
                 "--resume": resume, "--engine": engine != "auto", "--source": source,
                 "--resume-from": resume_from, "--name": name, "--display-name": display_name,
                 "--description": description, "--tags": tags, "--environment-variables": environment_variables,
                 "--workers": workers, "--processes": processes, "--llm-cache": llm_cache, "--llm-mode": llm_mode,
                 "--stream": stream, "--set": set_}
        if resume_from is not None or source is not None:
            if source is not None:
                from ..gcpause import end_startup

                end_startup()   # an import, not a batch (which turns collection on when its lines start)
                _run_source(source, given, json_out, source_overrides(set_, display_name, description, tags))
                return
            _refuse_options("--resume-from", given, _RESUME_FROM_REFUSES)
        console = Console(live=(sys.stderr if json_out else sys.stdout) if stream else None)
        if resume_from:
            from ..run.resumefrom import check_set

            spec = RunSpec(flow=".", resume_from=resume_from, name=name, display_name=display_name,
                           description=description, tags=pairs(tags, "--tags") if tags else {},
                           environment_variables=_env(environment_variables) if environment_variables else {},
                           workers=workers, processes=processes, llm_cache=llm_cache, llm_mode=llm_mode)
            if set_:
                from ..run.runfile import apply_set

                spec, notes = apply_set(spec, check_set(set_))
                for n in notes:
                    console.note(n)
        elif resume:
            # the interrupted run's own settings go on; anything else given was silently dropped
            _refuse_options("--resume", given, tuple(k for k in given if k not in
                                                     ("--resume", "--workers", "--processes", "--stream")))
            spec = RunSpec(flow=".", resume=resume, workers=workers, processes=processes)
        else:
            if file:
                from ..run.runfile import load_run_file

                given = [k for k, v in (("flow", flow), ("data", data), ("init", init),
                                        ("environment_variables", environment_variables)) if v]
                spec, notes = load_run_file(file, tuple(given))
                for n in notes:
                    console.note(n)
            elif flow is None:
                raise RunError("give --flow PATH (and --data FILE), or --file run.yml")
            else:
                spec = RunSpec(flow=flow)
            over = {}
            if flow is not None:
                over["flow"] = flow
            if data is not None:
                over["data"] = data
            if column_mapping:
                over["column_mapping"] = {**spec.column_mapping, **pairs(column_mapping, "--column-mapping")}
            if base_run:
                over["run"] = base_run
            if variant:
                over["variant"] = variant
            if connections:
                over["connections"] = {**spec.connections, **_connections(connections)}
            if environment_variables:
                over["environment_variables"] = _env(environment_variables)
            for k, v in (("name", name), ("display_name", display_name), ("description", description)):
                if v is not None:
                    over[k] = v
            if tags:
                over["tags"] = {**spec.tags, **pairs(tags, "--tags")}
            if init:
                over["init"] = _pairs_or_file(init, "--init")
            spec = replace(spec, workers=workers, processes=processes, engine=engine, llm_cache=llm_cache, llm_mode=llm_mode, **over)
            if set_:
                from ..run.runfile import apply_set

                spec, notes = apply_set(spec, set_)
                for n in notes:
                    console.note(n)
        if json_out:    # stdout holds only the JSON: what tools print while loading goes to stderr
            import contextlib

            with contextlib.redirect_stdout(sys.stderr):
                outcome = run_batch(spec, console)
        else:
            outcome = run_batch(spec, console)
        _print_outcome(outcome, json_out)
        raise typer.Exit(130 if outcome.status == "Canceled" else outcome.exit_code)

    @app.command("test")
    def test(flow: str = typer.Option(".", "--flow", help="Flow folder, flow file or .prompty."),
             inputs: Optional[List[str]] = typer.Option(None, "--inputs", metavar="K=V|FILE", help="K=V flow inputs (node inputs with --node), or a JSON file."),
             inputs_file: Optional[str] = typer.Option(None, "--inputs-file", help="JSON object (or JSONL: first line)."),
             node: Optional[str] = typer.Option(None, "--node", help="Run this node alone with its own inputs."),
             variant: Optional[str] = typer.Option(None, "--variant", help="'${node.variant_id}': run that variant of the node (default: each node's default_variant_id)."),
             connections: Optional[List[str]] = typer.Option(None, "--connections", help="NODE.connection=NAME, NODE.deployment_name=X, NODE.model=Y."),
             environment_variables: Optional[List[str]] = typer.Option(None, "--environment-variables", help="K=V pairs and .env files; with no value, the .env found here or above."),
             init: Optional[List[str]] = typer.Option(None, "--init", help="Flex class flows: K=V init kwargs, or a JSON file."),
             engine: str = typer.Option("auto", "--engine", help="auto | builtin | promptflow."),
             json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
             interactive: bool = typer.Option(False, "--interactive", help="Chat with a chat flow: user turns from stdin, answers printed."),
             verbose: bool = typer.Option(False, "--verbose", help="With --interactive: print each node's output too."),
             ui: bool = typer.Option(False, "--ui", help="promptflow's chat window (pfgit has none: use --interactive)."),
             ) -> None:
        """Run one line of a flow, like `pf flow test`; writes nothing into the flow folder."""
        from ..output import emit_json
        from ..run.argv import pairs
        from ..run.errors import RunError
        from ..run.spec import ENGINES, RunSpec
        from ..run.testline import read_inputs_file, test_flow

        if ui:
            raise RunError("pfgit has no chat window (pf flow test --ui): chat in the terminal with "
                           "pfgit test --interactive")
        if engine not in ENGINES:
            raise RunError(f"--engine must be one of {', '.join(ENGINES)}")
        if inputs and inputs_file:
            raise RunError("give --inputs or --inputs-file, not both")
        given = read_inputs_file(inputs_file) if inputs_file else _pairs_or_file(inputs, "--inputs")
        spec = RunSpec(flow=flow, variant=variant, connections=_connections(connections),
                       environment_variables=_env(environment_variables) if environment_variables else {},
                       init=_pairs_or_file(init, "--init") if init else None, engine=engine)
        if interactive:
            from ..gcpause import end_startup
            from ..output import is_tty
            from ..run.chat import chat

            end_startup()   # a conversation lasts: collection on (one `pfgit test` line runs without)

            if node or json_out:
                raise RunError("--interactive chats with the whole flow: without --node and --json")
            raise typer.Exit(chat(spec, given, sys.stdin, sys.stdout, sys.stderr, verbose, is_tty(sys.stdin)))
        if json_out:    # stdout holds only the JSON: what tools print goes to stderr
            import contextlib

            with contextlib.redirect_stdout(sys.stderr):
                res = test_flow(spec, given, node)
        else:
            res = test_flow(spec, given, node)
        for w in res.warnings:
            print(f"pfgit: warning: {w}", file=sys.stderr)
        if json_out:
            emit_json(res.as_dict())
        else:
            for n in res.nodes:
                out = n["output"] if n["status"] == "Completed" else (n["error"] or "")
                text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
                text = text.replace("\n", "\\n")
                print(f"{n['node']:<20} {n['status']:<9} {n['duration'] * 1000:7.1f} ms  "
                      f"{text[:100] + ('...' if len(text) > 100 else '')}")
            if res.metrics:
                print("metrics: " + json.dumps(res.metrics, ensure_ascii=False))
            if res.ok:
                print(json.dumps(res.outputs, indent=2, ensure_ascii=False))
            else:
                e = res.error
                where = f"node '{e['node']}': " if e.get("node") else ""
                print(f"pfgit: {where}{e['message']}", file=sys.stderr)
        raise typer.Exit(0 if res.ok else 1)

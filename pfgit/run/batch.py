"""A batch run: lines over a thread pool, per-line errors recorded without stopping, progress,
Ctrl-C leaving a resumable run, and the result recorded as a snapshot commit.

Differences from promptflow, on purpose (docs/run.md): a run with failed lines ends `Failed` with
exit code 1 (promptflow says `Completed`, exit 0, even when every line failed); an evaluation line
over a failed base line is recorded as a failed line (promptflow drops it silently); data values
are not coerced by pandas; a data column wins over an input default.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace

from ..errors import EXIT_NO, EXIT_OK
from ..gcpause import end_startup
from .environ import RunEnv, env_for, flow_env_secrets, read_dotenv
from .errors import LineError, RunError
from .procpool import NOT_RUN
from .spec import DEFAULT_WORKERS, RunSpec


@dataclass
class Outcome:
    name: str
    status: str
    total: int = 0
    failed: int = 0
    done: int | None = None          # lines finished (None: all of them)
    metrics: dict = field(default_factory=dict)
    commit: str | None = None
    engine: str = "builtin"
    notes: list = field(default_factory=list)
    first_error: dict | None = None
    aggregation_error: dict | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.status == "Completed" else EXIT_NO

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "engine": self.engine,
                "lines": {"total": self.total, "completed": (self.total if self.done is None else self.done) - self.failed,
                          "failed": self.failed},
                "metrics": self.metrics, "snapshot": self.commit, "notes": self.notes,
                "first_error": self.first_error, "aggregation_error": self.aggregation_error}


class Console:
    """Where the run talks to the user (stderr); tests pass a list-backed one. `live` (pf's
    `--stream`): a text stream that shows each finished line and what the flow's tools print,
    as it happens, in place of the progress bar."""

    def __init__(self, stream=None, quiet: bool = False, live=None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = live

    def note(self, msg: str) -> None:
        if not self.quiet:
            print(f"pfgit: {msg}", file=self.stream, flush=True)


def _stream_line(out, ln: int, err, outputs, finished: int, total: int) -> None:
    """`--stream`'s line for a finished line: its outputs or its error, and every 10% (and at
    the end) how many lines are done, as promptflow's stream says it."""
    from ..output import neutralise

    if err is not None:
        where = f"node '{err.node}': " if err.node else ""
        text = f"[line {ln}] Failed: {where}{err.message}"
    else:
        text = f"[line {ln}] Completed: {json.dumps(outputs, ensure_ascii=False, default=str)}"
    text = neutralise(" ".join(text.split()))   # one line whatever the outputs hold
    if len(text) > 300:
        text = text[:297] + "..."
    step = max(1, total // 10)
    done = f"\nFinished {finished} / {total} lines." if finished % step == 0 or finished == total else ""
    try:
        print(text + done, file=out, flush=True)
    except (OSError, ValueError):
        pass


def _line_sources(spec: RunSpec, data_path, base, mapping, data_info):
    """Yields (line_number, raw inputs, base error or None) in line order."""
    from .baserun import SortedLookup
    from .data import iter_rows

    if data_path is not None:
        base_out = SortedLookup(base.outputs()) if base is not None and mapping.uses("run.outputs") else None
        base_in = SortedLookup(base.inputs()) if base is not None and mapping.uses("run.inputs") else None
        for pos, row in enumerate(iter_rows(data_path)):
            ln = row.get("line_number", pos) if data_info.has_line_number else pos
            berr = base.failed.get(ln) if base is not None else None
            bo = base_out.get(ln) if base_out is not None else None
            bi = base_in.get(ln) if base_in is not None else None
            yield ln, (mapping.apply(row, bo, bi) if berr is None else {}), berr
    else:
        base_out = SortedLookup(base.outputs())
        base_in = SortedLookup(base.inputs()) if mapping.uses("run.inputs") else None
        for ln in base.line_numbers:
            berr = base.failed.get(ln)
            bo = base_out.get(ln)
            bi = base_in.get(ln) if base_in is not None else None
            yield ln, (mapping.apply(None, bo, bi) if berr is None else {}), berr


def _progress(total: int, usage):
    from ..output import is_tty

    if not is_tty(sys.stderr) or total < 2:
        return None
    from rich.console import Console as RichConsole
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                 TextColumn("{task.fields[failed]} failed"), TextColumn("{task.fields[rate]}"),
                 TimeRemainingColumn(), TextColumn("{task.fields[tokens]}"), transient=True,
                 console=RichConsole(file=sys.__stderr__))   # stdout may be the tools' log
    p.start()
    p.add_task("lines", total=total, failed=0, rate="", tokens="")
    return p


def _interrupt_after() -> int | None:
    v = os.environ.get("PFGIT_TEST_INTERRUPT_AFTER")   # tests: simulate Ctrl-C after N lines
    return int(v) if v else None


def default_workers(engine, lines: int) -> int:
    llm = getattr(engine, "uses_llm", False)
    return max(1, min(DEFAULT_WORKERS if llm else 4, lines or 1))


def _processes(spec, engine, workers: int, lines: int, console) -> int:
    """Worker processes: `--processes N`, else two for a big LLM run on a machine with two cores
    or more, one otherwise. An LLM line spends ~2-3 ms of CPU in the openai SDK while one process
    runs Python on one core: on the LLM bench (2 cores) a second process raised the rate of lines
    ~5-10% at the price of ~1 ms more CPU per line for handing lines over; small runs and flows
    without LLM nodes would only pay that price. Flex flows keep one process (one instance)."""
    from .procpool import available

    fits = available() and getattr(engine, "splits_over_processes", False)
    if spec.processes:
        n = min(spec.processes, workers)
        if n > 1 and not fits:
            console.note("--processes ignored: this flow's lines run in one process "
                         "(flex flows keep one instance; worker processes need Linux)")
            return 1
        return n
    if not (fits and getattr(engine, "uses_llm", False)) or workers < 8 or lines < 8 * workers:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(2, cpus)


def _calls_the_sdk(engine, spec) -> bool:
    return (getattr(engine, "uses_llm", False) and getattr(engine, "splits_over_processes", False)
            and spec.llm_mode != "replay")


class _term_as_interrupt:
    """SIGTERM (a CI job cancelled, `kill`, a container stopped) ends the run as Ctrl-C does:
    state saved, `--resume` said, exit 130 (it died at once, without a word). Neither signal
    interrupts a line's write (`with signals.atomic():`): raised between its inputs, outputs and
    aggregation records, it left a line --resume took as done without its aggregation inputs.
    Calling the object restores the previous handlers."""

    def __init__(self):
        import signal
        import threading

        self.depth, self.pending, self.previous = 0, False, {}
        self.pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame):
        if os.getpid() != self.pid:
            return   # a worker process, forked, before it ignores both: the run is the parent's
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def __call__(self) -> None:
        import signal

        for sig, previous in self.previous.items():
            signal.signal(sig, previous)
        self.previous = {}

    @contextlib.contextmanager
    def atomic(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:   # after the write, when it raised nothing itself
            self.pending = False
            raise KeyboardInterrupt


def run_batch(spec: RunSpec, console: Console | None = None, repo=None) -> Outcome:
    from ..git.repo import open_repo
    from ..store.names import default_run_name, is_dag_folder, validate_run_name
    from .engine.plan import entry_of, locate
    from .runstate import ActiveRun

    console = console or Console()
    resumed = None
    if spec.resume:
        repo = repo or open_repo(".")
        active = ActiveRun(repo, spec.resume)
        state = active.state()
        resumed = active
        saved = RunSpec(**{k: v for k, v in state["spec"].items() if k in RunSpec.__dataclass_fields__})
        spec = replace(saved, resume=spec.resume, workers=spec.workers or saved.workers,
                       processes=spec.processes or saved.processes)
        if spec.resume_from:   # its flow is the recorded tree, maybe from a checkout gone since
            from .resumefrom import continue_run

            with continue_run(repo, state) as fdir:
                named = os.path.splitext(spec.flow)[1] in (".prompty", ".yaml", ".yml")   # a flow file
                ffile = os.path.basename(spec.flow) if named else None
                spec = replace(spec, flow=os.path.join(fdir, ffile) if ffile else fdir)
                return _start(spec, repo, console, resumed, state.get("flow_rel") or ".", spec.data,
                              state["flow_source"])
    elif spec.resume_from:   # a new run from a recorded one's settings and flow (resumefrom.py)
        from .resumefrom import resume_from

        repo = repo or open_repo(".")
        with resume_from(repo, spec, console) as (spec, flow_rel, flow_src, seed):
            return _start(spec, repo, console, None, flow_rel, spec.data, flow_src, seed)
    if not spec.data and not spec.run:
        raise RunError("nothing to run on: give --data FILE (and/or --run BASE_RUN)")
    if spec.data and not os.path.exists(spec.data):
        raise RunError("data file not found", file=spec.data)
    fdir, ffile = locate(spec.flow)
    entry = entry_of(spec.flow)      # `--flow module:function`: no flow file (see _capture_flow)
    repo = repo or open_repo(fdir)
    from ..store.snapshot import flow_rel_path

    flow_rel = flow_rel_path(repo, fdir)
    name = spec.resume or (validate_run_name(spec.name) if spec.name else default_run_name(
        flow_rel, folder=fdir, variant=spec.variant, dag=is_dag_folder(ffile)))
    data_given = spec.data
    spec = replace(spec, name=name, flow=os.path.abspath(spec.flow),
                   data=os.path.abspath(spec.data) if spec.data else None)
    if not spec.resume:
        from ..git import runrefs

        if runrefs.get_run(repo, name) is not None:
            raise RunError(f"run '{name}' already exists (choose another --name)")
    flow_src = _capture_flow(repo, flow_rel, name, resumed, entry)
    if entry and not spec.resume:
        _note_generated(console, entry, flow_src, ffile)
    return _start(spec, repo, console, resumed, flow_rel, data_given, flow_src)


def _start(spec, repo, console, resumed, flow_rel, data_given, flow_src, seed=None) -> Outcome:
    """Run `spec` (name, absolute paths and the flow's [commit, tree, dirty] settled) with the
    engine it calls for. `seed(active, engine)` puts lines copied from another run into the new
    active run before any line runs (--resume-from)."""
    from .connections_bridge import connection_getter
    from .engine.select import choose

    get_connection = connection_getter()
    engine_name, engine = choose(spec, get_connection)
    if engine_name == "promptflow":
        end_startup()
        if seed is not None:
            console.note(f"the promptflow engine cannot run only some lines: every line of "
                         f"'{spec.resume_from}' runs again")
        if console.live is not None:
            console.note("--stream: promptflow runs this flow; pfgit shows the run when it has finished")
        return _run_with_promptflow(spec, repo, console, resumed, flow_src,
                                    flow_env_secrets(spec, get_connection), flow_rel)
    try:
        return _run_builtin(spec, repo, engine, console, resumed, get_connection, flow_rel, data_given,
                            flow_src, seed)
    finally:
        close = getattr(engine, "close", None) or getattr(getattr(engine, "plan", None), "close", None)
        if close:
            close()


def _capture_flow(repo, flow_rel: str, name: str, resumed, entry: str | None = None) -> list:
    """[commit, tree, dirty] of the flow this run executes, captured before any of its files is
    loaded, so an edit made during a long run never reaches the run's snapshot. A resumed run
    keeps what its start captured, and refuses to go on if the flow changed since.

    A flow given as `module:function` has no flow file: as promptflow writes a flow.flex.yaml
    holding `entry: module:function` into the folder it runs (and into the run's snapshot), the
    tree recorded is the folder's with that file added, and a fourth item names the generated
    file; the commit stays the repository's (which has no such file), so run.json says so."""
    from ..git.worktree import flow_source

    try:
        fc, ft, dirty = flow_source(repo, flow_rel, name)
    except FileNotFoundError:
        raise RunError("flow folder not found", file=flow_rel) from None
    now = [fc.decode(), ft.decode(), dirty]
    if entry:
        from ..git import objects as gobj
        from .engine.plan import ENTRY_FLOW_FILE, entry_flow_text

        entries = gobj.tree_entries(repo, ft)
        entries[ENTRY_FLOW_FILE] = (gobj.FILE_MODE, gobj.put_bytes(repo, entry_flow_text(entry)))
        now = [fc.decode(), gobj.make_tree(repo, entries).decode(), dirty, [ENTRY_FLOW_FILE]]
    saved = resumed.state().get("flow_source") if resumed is not None else None
    if saved and saved[1] != now[1]:
        raise RunError(f"the flow changed since run '{name}' started; its snapshot must hold what ran: "
                       "restore the flow, or start a new run")
    return saved or now


def _note_generated(console, entry: str, flow_src: list, ffile: str) -> None:
    from .engine.plan import ENTRY_FLOW_FILE

    if os.path.lexists(ffile):   # promptflow too runs the entry given, not the file's
        console.note(f"{ENTRY_FLOW_FILE} in this folder is not used: the flow is 'entry: {entry}'")
    console.note(f"--flow {entry}: no flow file; the run's snapshot holds a generated {ENTRY_FLOW_FILE} "
                 f"('entry: {entry}', as promptflow writes one), not in its flow commit {flow_src[0][:12]}")


def _prepare_inputs(spec, repo, engine, console, data_given=None):
    """(data info, base run, mapping, total lines, notes)."""
    from . import mapping as mapping_mod
    from .baserun import load_base
    from .data import scan

    notes = []
    info = scan(data_given or spec.data) if spec.data else None   # errors name the path as given
    base = load_base(repo, spec.run) if spec.run else None
    columns = {}
    if info is not None:
        columns["data"] = set(info.columns)
        notes += [f"data: {n}" for n in info.coercion_notes()]
    if base is not None:
        columns["run.outputs"] = base.output_columns
        columns["run.inputs"] = base.input_columns
        if info is not None and not info.has_line_number and info.rows != len(base.line_numbers):
            raise RunError(f"base run '{base.name}' has {len(base.line_numbers)} lines but the data has "
                           f"{info.rows}: an evaluation run joins them line by line")
        notes += base.notes
        if base.failed:
            notes.append(f"{len(base.failed)} line(s) of base run '{base.name}' failed: recorded as failed "
                         "lines here (promptflow drops them silently)")
    mp = mapping_mod.build(engine.input_defs(), spec.column_mapping, columns)
    notes += mp.notes
    total = info.rows if info is not None else len(base.line_numbers)
    return info, base, mp, total, notes


def _run_builtin(spec, repo, engine, console, resumed, get_connection, flow_rel, data_given=None,
                 flow_src=None, seed=None) -> Outcome:
    from .runstate import ActiveRun

    info, base, mp, total, notes = _prepare_inputs(spec, repo, engine, console, data_given)
    for n in notes + list(getattr(engine, "warnings", []) or []):
        console.note(n)
    env_secrets: list = []
    env = env_for(spec, engine.flow_env(), get_connection, env_secrets)
    workers = spec.workers or default_workers(engine, total)
    active = resumed or ActiveRun(repo, spec.name)
    start = time.time()
    if resumed is None:
        active.create(spec, {"lines_total": total, "start": start, "engine": "builtin", "flow_source": flow_src,
                               "flow_rel": flow_rel})
        done = set()
        if seed is not None:
            active.open()
            try:
                copied = seed(active, engine)
            except BaseException:
                active.remove()
                raise
            active.close()
            done = active.done_lines()
            console.note(f"resuming from run '{spec.resume_from}': {copied} succeeded line(s) copied, "
                         f"{total - len(done)} to run")
    else:
        done = active.done_lines()
        start = active.state().get("start", start)
        _restore_tokens(engine, active.state().get("tokens"))
        # connections tools looked up before the interruption: the lines written then may hold
        # their secrets, so they are masked even if no line of this start looks them up again
        getattr(engine, "adopt_connections", lambda names: None)(active.state().get("connections_looked_up"))
        active.update_state(status="Running")
        console.note(f"resuming run '{spec.name}': {len(done)} of {total} lines already done")
    active.open()
    outcome = Outcome(spec.name, "Running", total=total, notes=notes)
    failed = 0
    if resumed:
        for rec in active.read("errors"):
            failed += 1
            outcome.first_error = outcome.first_error or rec
    progress = None
    finished = len(done)
    stop_after = _interrupt_after()
    written = 0
    no_workers = False
    timeout = spec.line_timeout or float(os.environ.get("PF_LINE_TIMEOUT_SEC") or 600)

    def write(ln, raw, res_or_err):
        with signals.atomic():     # a line's records whole, or not at all
            _write(ln, raw, res_or_err)
        if stop_after is not None and written >= stop_after:
            raise KeyboardInterrupt

    def _write(ln, raw, res_or_err):
        nonlocal failed, finished, written, no_workers
        if isinstance(res_or_err, LineError) and res_or_err.kind == NOT_RUN:
            no_workers = True         # never ran: not recorded; the run stops resumable (below)
            return
        if isinstance(res_or_err, LineError):
            err, inputs, res = res_or_err, raw, None
        else:
            res = res_or_err
            err, inputs = res.error, res.inputs
        active.append("inputs", {**jsonable_line(inputs), "line_number": ln})
        if err is not None:
            failed += 1
            rec = {"line_number": ln, **err.as_dict()}
            active.append("errors", rec)
            if outcome.first_error is None:
                outcome.first_error = rec
        else:
            active.append("outputs", {**res.outputs, "line_number": ln})
            if engine.keeps_for_aggregation():
                active.append("aggregation", {"line_number": ln, "inputs": jsonable_line(res.inputs),
                                              "node_outputs": jsonable_line(res.node_outputs)})
        finished += 1
        written += 1
        if console.live is not None:
            _stream_line(console.live, ln, err, None if err is not None else res.outputs, finished, total)
        if progress is not None:
            el = max(time.time() - start, 1e-6)
            rate = finished / el
            tokens = engine.usage.usage.total
            progress.update(progress.task_ids[0], completed=finished, failed=failed,
                            rate=f"{rate:.1f} lines/s", tokens=f"{tokens} tokens" if tokens else "")

    job = line_job(engine, spec.run)

    sources = ((ln, raw, berr) for ln, raw, berr in _line_sources(spec, spec.data, base, mp, info) if ln not in done)
    interrupted = False
    signals = _term_as_interrupt()
    try:
        with RunEnv(env, engine.cwd(), os.path.join(active.dir, "stdout.log"), tee=console.live):
            processes = _processes(spec, engine, workers, total - len(done), console)
            if workers > 1 and _calls_the_sdk(engine, spec):
                from .llm.client import preload

                preload()   # once, before the threads (or forked processes) that would all import it
            end_startup(freeze=True)   # before the lines (and the workers forked here) allocate
            pool = None
            if processes > 1:   # forked before any thread of this process starts (the progress bar's)
                from .procpool import ProcessLinePool

                pool = ProcessLinePool(job, processes, workers, usage=getattr(engine, "usage", None),
                                       keep_agg=engine.keeps_for_aggregation(), jsonable=jsonable_line,
                                       looked_up=getattr(engine, "connections_looked_up", None),
                                       on_connections=getattr(engine, "adopt_connections", None))
            in_processes = pool is not None
            progress = _progress(total, engine.usage) if console.live is None else None
            if workers <= 1 and pool is None:
                for ln, raw, berr in sources:
                    write(ln, raw, job(ln, raw, berr))
            else:
                if pool is None:
                    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pfgit-line")
                # Queued lines keep the threads busy between writes: a thread (in a child process
                # too) that finishes a line takes the next at once, instead of waiting for the
                # result to reach this thread and a new line to come back (with processes that
                # round trip cost ~10 ms a line, ~15% of an LLM batch's rate).
                limit = workers * 2 - 1
                pending: dict = {}
                started: dict = {}          # line -> when its job began (the timeout counts from there)
                abandoned = False

                def timed_job(ln, raw, berr):
                    started[ln] = time.monotonic()
                    return job(ln, raw, berr)

                def submit(item):
                    if in_processes:
                        return pool.submit(*item)
                    return pool.submit(timed_job, *item)

                def began(fut, ln):
                    return fut.started if in_processes else started.get(ln)

                def drain(block_until_below: int):
                    nonlocal abandoned
                    while len(pending) > block_until_below:
                        ready, _ = cf.wait(pending, timeout=min(timeout, 1.0), return_when=cf.FIRST_COMPLETED)
                        for fut in ready:
                            ln, raw, _b = pending.pop(fut)
                            started.pop(ln, None)
                            write(ln, raw, _result(fut))
                        now = time.monotonic()
                        for fut, (ln, raw, _b) in list(pending.items()):
                            t = began(fut, ln)
                            if t is not None and now - t > timeout and not fut.done():
                                del pending[fut]      # the thread cannot be stopped: abandon it
                                abandoned = True
                                write(ln, raw, LineError(f"Line {ln} execution timeout for exceeding "
                                                         f"{timeout:g} seconds", "LineExecutionTimeoutError"))
                try:
                    for item in sources:
                        if no_workers:
                            break
                        pending[submit(item)] = item
                        drain(limit)                  # bounded: never the whole data in memory
                    drain(0)   # every line sent has its result, those that ran are written
                    if no_workers:
                        raise KeyboardInterrupt       # the rest never ran: resumable, as Ctrl-C
                finally:
                    pool.shutdown(wait=not pending and not abandoned, cancel_futures=True)
            if progress is not None:
                progress.stop()
                progress = None
            metrics, agg_err = engine.run_aggregation(_agg_lines(active))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signals()
        if progress is not None:
            progress.stop()
    if interrupted:
        active.close()
        active.update_state(status="Canceled", tokens=_saved_tokens(engine),   # names only, never secrets
                            connections_looked_up=getattr(engine, "connections_looked_up", lambda: [])())
        outcome.status = "Canceled"
        outcome.failed = failed
        outcome.done = finished
        why = "every worker process exited" if no_workers else "interrupted"
        console.note(f"{why}: {finished} of {total} lines done; the run is kept: "
                     f"pfgit run --resume {spec.name}")
        return outcome
    active.close()
    if engine.usage.calls:
        metrics.update(engine.usage.metrics())
    outcome.metrics = metrics
    outcome.failed = failed
    if agg_err is not None:
        outcome.aggregation_error = agg_err.as_dict()
        console.note(f"aggregation node '{agg_err.node}' failed: {agg_err.message}")
    outcome.status = "Completed" if failed == 0 and agg_err is None else "Failed"
    if failed:
        fe = outcome.first_error
        where = f"line {fe['line_number']}" + (f", node '{fe['node']}'" if fe.get("node") else "")
        console.note(f"{failed} of {total} lines failed (status Failed, exit 1; promptflow would report "
                     f"Completed). First: {where}: {fe['message']}")
    rec = _record(spec, repo, active, outcome, start, mp, engine, "builtin", env_secrets)
    outcome.commit = rec.commit
    active.remove()
    return outcome


_TOKEN_KEYS = ("prompt", "completion", "total", "calls")


def _saved_tokens(engine):
    """The token counts so far, kept in an interrupted run's state so the resumed run's
    `__pfgit__.tokens.*` cover all its lines."""
    usage = getattr(engine, "usage", None)
    if usage is None or not usage.calls:
        return None
    return dict(zip(_TOKEN_KEYS, usage.counts()))


def _restore_tokens(engine, saved) -> None:
    usage = getattr(engine, "usage", None)
    if usage is None or not isinstance(saved, dict):
        return
    usage.set_counts([n + int(saved.get(k) or 0) for n, k in zip(usage.counts(), _TOKEN_KEYS)])


def _result(fut):
    try:
        return fut.result()
    except Exception as e:   # engine bug or a BaseException-free failure: one line fails, not the run
        return LineError(f"({type(e).__name__}) {e}", type(e).__name__)


def _agg_lines(active):
    """Succeeded lines' aggregation inputs, ascending line numbers (read back from disk)."""
    class L:
        __slots__ = ("inputs", "node_outputs")

        def __init__(self, d):
            self.inputs = d.get("inputs") or {}
            self.node_outputs = d.get("node_outputs") or {}
    for raw in active.sorted_lines("aggregation"):
        yield L(json.loads(raw))


def line_job(engine, base_run: str | None):
    """What runs one line: `job(line number, mapped inputs, the base run line's error)` (in a
    thread here, or in a worker process forked here)."""
    def job(ln, raw, berr):
        if berr is not None:
            return LineError(f"line {ln} of base run '{base_run}' failed ({berr}): nothing to evaluate",
                             "BaseRunLineFailed")
        return engine.run_line(raw, ln)
    return job


def jsonable_line(d: dict) -> dict:
    """A line's inputs (or node outputs) as JSON values: what cannot be written, as its repr."""
    out = {}
    for k, v in (d or {}).items():
        try:
            json.dumps(v)
            out[k] = v
        except (TypeError, ValueError):
            out[k] = str(v) if isinstance(v, str) else repr(v)
    return out


def _run_log(spec, engine_name, outcome, start) -> list:
    """The lines of a run's logs/logs.txt (bytes), a short summary like promptflow's logs.txt."""
    from .. import __version__
    from ..output import neutralise
    from ..store.snapshot import now_iso

    def one(v) -> str:   # a folder or metric name cannot add a line (or drive a terminal: `git show`)
        return neutralise(str(v)).replace("\n", "\\n")

    failed, total = outcome.failed or 0, outcome.total or 0
    finished = total if outcome.done is None else outcome.done
    lines = [f"{now_iso(start)} pfgit {__version__}: run {one(spec.name)} of flow {one(os.path.basename(spec.flow))} "
             f"(engine {engine_name}), {total} line(s)",
             f"{now_iso()} finished {finished} line(s): {finished - failed} completed, {failed} failed"]
    if outcome.aggregation_error:
        lines.append(f"{now_iso()} aggregation failed (see run.json settings.aggregation_error)")
    lines.append(f"{now_iso()} run {one(spec.name)}: {outcome.status}"
                 + (f"; metrics: {', '.join(sorted(map(one, outcome.metrics)))}" if outcome.metrics else ""))
    return [(ln + "\n").encode("utf-8", "backslashreplace") for ln in lines]


def _record(spec, repo, active, outcome, start, mp, engine, engine_name, env_secrets=()):
    from ..store.secrets import is_secret_key
    from ..store.snapshot import now_iso, record_result
    from .result import RunResult

    from .resumefrom import AGGREGATION_LOG, request_of, save_environment

    env = spec.environment_variables
    if isinstance(env, str):     # a .env file's names too (read at the start: gone since, none)
        try:
            env = read_dotenv(env)
        except RunError:
            env = {}
    env = env or {}
    conns = {}
    for node, fields in (getattr(engine, "connection_names", lambda: {})() or {}).items():
        conns[node] = fields
    logs = {}
    for name, kind in (("errors.jsonl", "errors"), (AGGREGATION_LOG, "aggregation")):
        # aggregation: what aggregation nodes read from each line (`--resume-from` copies it)
        lines = active.sorted_lines(kind)   # streamed into the snapshot: 100,000 lines stay on disk
        first = next(lines, None)
        if first is not None:
            logs[name] = itertools.chain([first], lines)
    out_log = os.path.join(active.dir, "stdout.log")
    if os.path.exists(out_log) and os.path.getsize(out_log):
        logs["stdout.log"] = out_log
    # every snapshot holds logs (contracts: the tree holds ... metrics.json and logs), like pf's
    # logs.txt: what ran, how many lines completed and failed, and the status
    logs["logs.txt"] = iter(_run_log(spec, engine_name, outcome, start))
    result = RunResult(
        flow=spec.flow, outputs=active.sorted_lines("outputs"), inputs=active.sorted_lines("inputs"),
        metrics=outcome.metrics, name=spec.name, data=spec.data, column_mapping=mp.effective,
        variant=spec.variant, base_run=spec.run, status=outcome.status,
        start_time=now_iso(start), end_time=now_iso(), lines_failed=outcome.failed, lines_total=outcome.total,
        connections=conns, environment={k: (v if is_secret_key(k) else "") for k, v in env.items()},
        secrets=list(getattr(engine, "secret_values", lambda: [])() or []) + list(env_secrets),
        logs=logs,
        source={"tool": "pfgit", "engine": engine_name},
        flow_source=tuple(active.state().get("flow_source") or ()) or None,
        # the folder run, when spec.flow does not name it (an entry `FOLDER/module:function`)
        flow_rel=active.state().get("flow_rel") if spec.resume_from or len(
            active.state().get("flow_source") or ()) > 3 else None,
        extra=dict(spec.settings(), request=request_of(spec),
                   **({"aggregation_error": outcome.aggregation_error} if outcome.aggregation_error else {})),
    )
    rec = record_result(repo, result)
    save_environment(repo, spec.name, rec.commit, env)
    return rec


class LineWriter:
    """What the promptflow engine hands its lines to: `line(line_number, inputs, outputs, error)`
    (outputs None and error {"type", "message", "node"} for a failed line), `metrics(dict)`."""

    def __init__(self, active):
        self.active = active
        self.failed = 0
        self.total = 0
        self.first_error = None
        self.metrics_ = {}

    def line(self, line_number, inputs, outputs, error=None):
        self.total += 1
        self.active.append("inputs", {**jsonable_line(inputs or {}), "line_number": line_number})
        if error is not None or outputs is None:
            self.failed += 1
            rec = {"line_number": line_number, **(error or {"type": "UserError", "message": "failed", "node": None})}
            self.active.append("errors", rec)
            self.first_error = self.first_error or rec
        else:
            self.active.append("outputs", {**outputs, "line_number": line_number})

    def metrics(self, m: dict):
        self.metrics_.update(m or {})


def _run_with_promptflow(spec, repo, console, resumed, flow_src=None, env_secrets=(), flow_rel=None) -> Outcome:
    """Through the installed promptflow (pfgit.run.engine.promptflow, the llm branch's module),
    recorded exactly like a built-in run."""
    try:
        from .engine import promptflow as pf_engine
    except ImportError:
        raise RunError("the promptflow engine is not available in this pfgit build") from None
    from . import mapping as mapping_mod
    from .runstate import ActiveRun

    if resumed is not None:
        resumed.remove()   # promptflow cannot resume a run: start it again
    from .testline import unknown_flow_inputs

    unknown = unknown_flow_inputs(spec, spec.column_mapping, "column mapping of input")
    if unknown:   # as the built-in engine says it (mapping.py)
        console.note(unknown)
    active = ActiveRun(repo, spec.name)
    start = time.time()
    active.create(spec, {"start": start, "engine": "promptflow", "flow_source": flow_src, "flow_rel": flow_rel})
    active.open()
    writer = LineWriter(active)
    try:
        info = pf_engine.run(spec, writer)   # connection names and secret values for _record
    except BaseException:
        active.remove()
        raise
    active.close()
    outcome = Outcome(spec.name, "Completed" if writer.failed == 0 else "Failed", total=writer.total,
                      failed=writer.failed, metrics=writer.metrics_, engine="promptflow",
                      first_error=writer.first_error)
    if writer.failed:
        console.note(f"{writer.failed} of {writer.total} lines failed (status Failed, exit 1; promptflow "
                     "reports Completed)")
    mp = mapping_mod.Mapping(effective=dict(spec.column_mapping))
    rec = _record(spec, repo, active, outcome, start, mp, info, "promptflow", env_secrets)
    outcome.commit = rec.commit
    active.remove()
    return outcome

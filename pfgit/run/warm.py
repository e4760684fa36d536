"""A warm process for LLM batches: forked as `pfgit run` starts, it imports the openai SDK and
the modules that load a flow while this process reads the command line, captures the flow and
builds its plan; the batch's worker processes are then forked from it.

Why: importing the SDK is the largest part of an LLM run's start-up (~0.25 s of CPU, ~6% of a
1,000-line run at 50 ms a request), and this process spends about as long before it needs it
(typer, the repository, the flow). On two cores both now happen at once instead of one after
the other; the worker processes (procpool.py) would have inherited the import anyway.

What changes for a run: nothing but where its workers are forked from. The warm process builds
the same engine from the same RunSpec this process settled (names, absolute paths), enters the
same run environment (variables, flow folder, stdout.log, --stream's tee) and forks workers
running `procpool.child_main`; this process keeps the data, the order of recorded lines,
timeouts, Ctrl-C, aggregation and recording, exactly as with workers it forks itself. If the
warm process is not there, died, or refuses (anything unexpected), the run goes on as before.

It is started only for `pfgit run --flow X` where X's flow text names an llm/embedding node or
is a .prompty (a guess made before typer is even imported: a wrong guess costs a process that
is killed, never a different run), on Linux, and not with PFGIT_WARM=0. It ignores Ctrl-C and
SIGTERM (the run's process handles them and kills the workers), and exits when this process
closes its socket or exits."""

from __future__ import annotations

import os
import pickle
import re
import signal
import socket
import sys

_warm = None   # the _Warm of this process, if one was started

_LLM_TEXT = re.compile(rb"^\s*-?\s*type:\s*['\"]?(llm|embedding)\b|\.prompty\b", re.M)
_MAX_MESSAGE = 200_000   # a request larger than a SOCK_SEQPACKET message takes is not sent
_REPLY_TIMEOUT = 120.0   # seconds


def enabled() -> bool:
    return (os.environ.get("PFGIT_WARM", "1") != "0" and sys.platform.startswith("linux")
            and hasattr(os, "fork") and hasattr(socket, "send_fds"))


def option_value(argv: list, name: str) -> str | None:
    """The value of option `name` (`--flow`) in a command line, if given in a form we can read."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def likely_llm(flow: str) -> bool:
    """Does the flow at `flow` (folder, flow file or .prompty) look like it has LLM nodes? Only
    the flow file's text is read (a few KB at most): this runs before anything else."""
    try:
        if flow.endswith(".prompty") and os.path.isfile(flow):
            return True
        path = flow
        if os.path.isdir(flow):
            path = next((os.path.join(flow, n) for n in ("flow.dag.yaml", "flow.dag.yml")
                         if os.path.isfile(os.path.join(flow, n))), "")
        if not path or not os.path.isfile(path) or os.path.getsize(path) > 1_000_000:
            return False
        with open(path, "rb") as f:
            return _LLM_TEXT.search(f.read()) is not None
    except (OSError, ValueError):
        return False


def maybe_start(argv: list) -> None:
    """Fork the warm process when `argv` (after `pfgit`) is an LLM flow's `run`."""
    global _warm
    if _warm is not None or not enabled() or not argv or argv[0] != "run":
        return
    flow = option_value(argv, "--flow")
    if (flow is None or "--resume" in argv or option_value(argv, "--engine") == "promptflow"
            or option_value(argv, "--llm-mode") == "replay" or not likely_llm(flow)):
        return   # (replayed lines never call the SDK)
    try:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except OSError:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _serve(theirs, os.path.abspath(flow))   # never returns
    theirs.close()
    _warm = _Warm(pid, ours)
    os.register_at_fork(after_in_child=_forget_in_child)
    import atexit

    atexit.register(stop)


def _forget_in_child() -> None:
    """A process forked from this one (a worker, a tool's own fork) must not keep the warm
    process's socket open: the warm process exits when this process's end closes."""
    global _warm
    if _warm is not None:
        try:
            _warm.sock.close()
        except OSError:
            pass
        _warm = None


def current():
    """The warm process, if one was started and has not forked its workers yet."""
    return _warm if _warm is not None and not _warm.used else None


def stop() -> None:
    """Kill the warm process (its work is not needed, or this process is exiting)."""
    global _warm
    w, _warm = _warm, None
    if w is not None:
        w.close()


class _Warm:
    def __init__(self, pid: int, sock):
        self.pid, self.sock = pid, sock
        self.used = False   # it forks the workers of one batch, then waits for them and exits

    def spawn(self, request: dict, slots: list) -> list | None:
        """Ask the warm process to fork one worker per entry of `slots` (threads each), for the
        batch `request` describes. [(pid, Connection)] or None when it cannot (then this process
        forks its workers itself)."""
        from multiprocessing.connection import Connection

        pairs = []
        try:
            msg = pickle.dumps(dict(request, slots=slots))
            if len(msg) > _MAX_MESSAGE:
                return None
            pairs = [socket.socketpair() for _ in slots]
            socket.send_fds(self.sock, [msg], [b.fileno() for _, b in pairs])
            for _, b in pairs:
                b.close()
            # it has been importing since the run started, as this process has: it answers at
            # once unless something it loads hangs (then this process goes on without it)
            self.sock.settimeout(_REPLY_TIMEOUT)
            reply = pickle.loads(self.sock.recv(_MAX_MESSAGE))
            if not isinstance(reply, list) or len(reply) != len(slots):
                raise ValueError(f"unexpected reply from the warm process: {reply!r:.200}")
        except Exception:
            for a, b in pairs:
                a.close()
                b.close()
            stop()
            return None
        self.used = True
        return [(pid, Connection(a.detach())) for pid, (a, _) in zip(reply, pairs)]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except (ChildProcessError, OSError):
            pass


# ---- the warm process ------------------------------------------------------------------------
def _serve(sock, flow: str) -> None:
    """Import, build the engine `flow` most likely asks for, wait for one request, fork its
    workers, wait for them, exit. Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # the run's process handles them
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.environ.get("PFGIT_WARM_TEST_EXIT"):       # tests: a warm process that died
            os._exit(1)
        guess = None
        try:
            _preimport()
            guess = _engine_for(_engine_key_spec(flow))
        except Exception:
            pass                # the request's own imports and engine will say what is wrong
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 64)
        except OSError:
            msg, fds = b"", []
        if not msg:             # the run's process went away, or did not need us
            os._exit(0)
        pids = []
        try:
            pids = _fork_workers(pickle.loads(msg), fds, sock.fileno(), guess)
            sock.send(pickle.dumps(pids))
        except BaseException as e:
            for fd in fds:
                _close_fd(fd)
            try:
                sock.send(pickle.dumps(f"{type(e).__name__}: {e}"))
            except OSError:
                pass
            code = 1
        sock.close()
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _preimport() -> None:
    """What building an engine and calling a model import, done before anyone waits for it."""
    from .engine import plan, select  # noqa: F401  (the flow loader, jinja2, yaml)
    from .engine import dag  # noqa: F401
    from .llm.client import preload
    from .nodes import python  # noqa: F401

    preload()


def _engine_key_spec(flow: str):
    """The RunSpec of a plain `pfgit run --flow FLOW`: the engine built for it while waiting
    serves any request whose spec builds the same engine (_same_engine)."""
    from .spec import RunSpec

    return RunSpec(flow=flow)


def _same_engine(a, b) -> bool:
    """Do RunSpecs `a` and `b` build the same engine (open_builtin reads these fields only)?"""
    fields = ("flow", "variant", "connections", "llm_cache", "llm_mode", "init")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def _engine_for(spec):
    """(spec, its engine). What the flow's tools print while they load is not shown again: the
    run's process loaded them too, and its output says it once (on stderr with --json)."""
    import contextlib
    import io

    from .connections_bridge import connection_getter
    from .engine.select import open_builtin

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return spec, open_builtin(spec, connection_getter())


def _fork_workers(req: dict, fds: list, control: int, guess=None) -> list:
    """The request's engine (the one built while waiting, if the request asks for it), its run
    environment and one forked worker per fd."""
    from multiprocessing.connection import Connection

    from ..gcpause import end_startup
    from .batch import jsonable_line, line_job
    from .environ import RunEnv
    from .procpool import child_main

    if guess is not None and _same_engine(guess[0], req["spec"]):
        engine = guess[1]
        if hasattr(engine, "run_name"):
            engine.run_name = req["spec"].name
    else:
        engine = _engine_for(req["spec"])[1]
    job = line_job(engine, req["spec"].run)
    end_startup(freeze=True)   # the workers' collections skip what this process imported and built
    tee = {"stdout": sys.stdout, "stderr": sys.stderr}.get(req.get("live"))
    pids = []
    with RunEnv(req["env"], engine.cwd(), req["stdout_path"], tee=tee):
        known = set(engine.connections_looked_up())
        sys.stdout.flush()
        for i, (fd, slots) in enumerate(zip(fds, req["slots"])):
            pid = os.fork()
            if pid == 0:
                for other in fds[i + 1:]:   # those before it are closed here already
                    _close_fd(other)
                _close_fd(control)
                child_main(job, Connection(fd), slots, engine.usage, req["keep_agg"], jsonable_line,
                           engine.connections_looked_up, known)
            _close_fd(fd)
            pids.append(pid)
    return pids


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass

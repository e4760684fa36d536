"""A batch's lines spread over forked worker processes, each running its share on threads.

Why: an LLM line spends ~3-5 ms of CPU in the openai SDK (building the request, httpx, reading
the reply) while it waits 50+ ms on the endpoint. One process holds the GIL for all that CPU, so
one process caps an LLM batch well below `workers / latency` on a small machine; two processes use
two cores (promptflow uses worker processes for the same reason).

To batch.py the pool looks like a ThreadPoolExecutor: `submit(ln, raw, base_error) -> Future`,
`shutdown(wait, cancel_futures)`. Only the running of lines moves to the children: the parent
keeps the order of the recorded lines, the run files, progress, timeouts, Ctrl-C/resume and
aggregation exactly as with threads. A child gets `(seq, args)` over a socket pair, runs
`job(*args)` on its own threads (lines beyond its threads wait in its queue, so a thread that
finishes a line starts the next without a round trip to the parent) and sends back what
batch.py records of a line (the inputs, outputs, aggregation inputs or the error) with its token
counts so far and the names of the connections its tools looked up themselves since its last
reply (through promptflow, not as node inputs: the parent never saw them, yet their secrets must
be masked in the run's snapshot; the parent hands them to `on_connections`). Children are forked
after the engine is prepared, so they inherit it (loaded tools, compiled templates, connections),
the exported environment and the working folder; like promptflow's workers, each has its own
module globals and class-tool instances. Linux only (fork).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import signal
import sys
import threading
import time

from .errors import LineError


# the kind of a line no worker process was left to run: not a failure of the line (batch.py ends
# the run as interrupted, so `--resume` runs it; recorded as failed, it was lost to --resume)
NOT_RUN = "NoWorkerProcessLeft"


class LineOutcome:
    """What batch.py's writer reads of a line result (a LineResult's picklable part)."""

    __slots__ = ("inputs", "outputs", "error", "node_outputs")

    def __init__(self, inputs, outputs, error, node_outputs):
        self.inputs, self.outputs, self.error, self.node_outputs = inputs, outputs, error, node_outputs


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _error_dict(e: LineError) -> dict:
    return {"message": e.message, "kind": e.kind, "node": e.node}


def _to_wire(result, keep_agg: bool, jsonable):
    """A line result as plain data: ("error", {...}) or ("ok", inputs, outputs, error, node_outputs)."""
    if isinstance(result, LineError):
        return ("error", _error_dict(result))
    err = _error_dict(result.error) if result.error is not None else None
    return ("ok", jsonable(result.inputs), result.outputs, err,
            jsonable(result.node_outputs) if keep_agg and err is None else {})


def _from_wire(msg):
    if msg[0] == "error":
        return LineError(**msg[1])
    _, inputs, outputs, err, node_outputs = msg
    return LineOutcome(inputs, outputs, LineError(**err) if err else None, node_outputs)


class _Child:
    def __init__(self, pid, conn, slots):
        self.pid, self.conn, self.slots = pid, conn, slots
        self.in_flight: dict = {}          # seq -> Future
        self.tokens = (0, 0, 0, 0)         # prompt, completion, total, calls since the fork
        self.alive = True
        self.send_lock = threading.Lock()


class ProcessLinePool:
    """`processes` forked children sharing `workers` lines in flight."""

    def __init__(self, job, processes: int, workers: int, usage=None, keep_agg: bool = False, jsonable=None,
                 looked_up=None, on_connections=None, children=None):
        """`children`: [(pid, Connection)] already running `child_main` with `slots(processes,
        workers)` threads each (forked by the warm process, warm.py); else they are forked here."""
        from multiprocessing import Pipe

        self.usage = usage                 # the parent's TokenCounter: children's counts are summed into it
        self._base = self._counts(usage)
        self._lock = threading.Lock()
        self._seq = 0
        self.children: list = []
        jsonable = jsonable or (lambda d: dict(d or {}))
        self.on_connections = on_connections   # parent: names of connections a child's tools looked up
        # what the parent had looked up before the fork: the children need not report those
        known = set(looked_up()) if looked_up is not None else set()
        sys.stdout.flush()
        sys.stderr.flush()
        for i, n in enumerate(self.slots(processes, workers)):
            if children is not None:
                pid, parent_end = children[i]
                self.children.append(_Child(pid, parent_end, n))
                continue
            parent_end, child_end = Pipe(duplex=True)
            pid = os.fork()
            if pid == 0:                   # the child: never returns
                parent_end.close()
                for c in self.children:
                    c.conn.close()
                child_main(job, child_end, n, usage, keep_agg, jsonable, looked_up, known)
            child_end.close()
            self.children.append(_Child(pid, parent_end, n))
        self._readers = [threading.Thread(target=self._read, args=(c,), daemon=True, name=f"pfgit-proc-{c.pid}")
                         for c in self.children]
        for t in self._readers:
            t.start()

    @staticmethod
    def slots(processes: int, workers: int) -> list:
        """Threads of each of `processes` children sharing `workers` lines in flight."""
        return [max(workers // processes + (1 if i < workers % processes else 0), 1) for i in range(processes)]

    @staticmethod
    def _counts(usage):
        return (0, 0, 0, 0) if usage is None else usage.counts()

    # ---- parent side -------------------------------------------------------------------------
    def submit(self, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        fut.started = None   # when the line began in its child (batch.py's timeout counts from there)
        fut.line_args = args
        self._assign(fut)
        return fut

    def _assign(self, fut: cf.Future) -> None:
        """Send the line to the live child with the fewest lines per thread."""
        with self._lock:
            live = [c for c in self.children if c.alive]
            if not live:   # never ran: batch.py stops the run resumable rather than fail it
                fut.set_result(LineError("the run's worker processes have exited", NOT_RUN))
                return
            child = min(live, key=lambda c: len(c.in_flight) / c.slots)
            self._seq += 1
            seq = self._seq
            child.in_flight[seq] = fut
            if len(child.in_flight) <= child.slots:
                fut.started = time.monotonic()
        try:
            with child.send_lock:
                child.conn.send((seq, fut.line_args))
        except (OSError, ValueError) as e:
            self._child_gone(child, f"cannot reach worker process {child.pid}: {e}")

    def _read(self, child: _Child) -> None:
        while True:
            try:
                seq, msg, tokens, names = child.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as e:          # a reply that does not unpickle: that child is unusable
                self._child_gone(child, f"worker process {child.pid} sent an unreadable reply: {e}")
                return
            if names and self.on_connections is not None:
                self.on_connections(names)      # before the line counts as done: its secrets are known
            with self._lock:
                fut = child.in_flight.pop(seq, None)
                self._mark_started(child)
                child.tokens = tokens
                self._publish_tokens()
            if fut is not None and not fut.done():
                fut.set_result(_from_wire(msg))
        self._child_gone(child, f"worker process {child.pid} exited")

    @staticmethod
    def _mark_started(child: _Child) -> None:
        """A child's threads take queued lines in the order sent: its `slots` oldest unanswered
        lines are the running ones. Inferred here, so no message per line says so."""
        now = time.monotonic()
        for i, fut in enumerate(child.in_flight.values()):
            if i >= child.slots:
                break
            if fut.started is None:
                fut.started = now

    def _child_gone(self, child: _Child, why: str) -> None:
        """The lines a dead child was running fail; those still waiting in its queue never began,
        so another child runs them (promptflow's processes share one queue: a crash costs the
        lines that were running)."""
        with self._lock:
            child.alive = False
            orphans = list(child.in_flight.values())
            child.in_flight.clear()
        for fut in orphans:
            if fut.done():
                continue
            if fut.started is None:
                self._assign(fut)
            else:
                fut.set_result(LineError(f"{why} while running this line", "WorkerProcessExited"))

    def _publish_tokens(self) -> None:
        if self.usage is None:
            return
        self.usage.set_counts([b + sum(c.tokens[i] for c in self.children) for i, b in enumerate(self._base)])

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the children: after their lines when `wait` and nothing was cancelled, else at once
        (a thread running a line cannot be stopped; its process can)."""
        busy = any(c.in_flight for c in self.children)
        for c in self.children:
            try:
                with c.send_lock:
                    c.conn.send(None)
            except (OSError, ValueError):
                pass
            if busy or not wait:
                try:
                    os.kill(c.pid, signal.SIGKILL)
                except OSError:
                    pass
        for c in self.children:
            try:
                os.waitpid(c.pid, 0)
            except ChildProcessError:
                pass
        for t in self._readers:
            t.join(timeout=5)
        for c in self.children:
            c.conn.close()


# ---- child side ------------------------------------------------------------------------------
def _started_pool(threads: int) -> cf.ThreadPoolExecutor:
    """A thread pool whose threads are all running before the first line arrives: started on
    demand, each start waits for the GIL held by the lines already running (their first calls
    import and connect), and the first lines of a child began up to ~70 ms apart."""
    pool = cf.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pfgit-line")
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait)
    barrier.wait()
    return pool


def child_main(job, conn, slots: int, usage, keep_agg: bool, jsonable, looked_up=None, known=()) -> None:
    code = 0
    try:
        # Ctrl-C and SIGTERM are the parent's to handle (it kills its children): a cancelled CI
        # job signals the whole process group, and a child ending first (the parent's SIGTERM
        # handler, inherited, raised here) failed its lines, recorded as done before the parent
        # saw its own signal, so `--resume` never ran them
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        base = ProcessLinePool._counts(usage)
        reported = set(known)
        pool = _started_pool(slots)
        # Results go back from one sender thread: a line's thread takes its next line at once
        # instead of first converting, pickling and sending the last one (~0.5 ms a line on the
        # way of the next request)
        outbox: queue.SimpleQueue = queue.SimpleQueue()

        def send_results():
            while (item := outbox.get()) is not None:
                seq, fut = item
                try:
                    msg = _to_wire(fut.result(), keep_agg, jsonable)
                except Exception as e:                     # an engine bug: this line fails, not the run
                    msg = ("error", {"message": f"({type(e).__name__}) {e}", "kind": type(e).__name__, "node": None})
                # counted after the line ended: the parent reads counts that only grow
                tokens = tuple(n - b for n, b in zip(ProcessLinePool._counts(usage), base))
                names = [n for n in (looked_up() if looked_up is not None else ()) if n not in reported]
                reported.update(names)
                try:
                    conn.send((seq, msg, tokens, names))
                except (OSError, ValueError):
                    pass                               # the parent has gone
                except Exception as e:                 # an output that does not pickle
                    conn.send((seq, ("error", {"message": f"the line's result cannot be passed between "
                                                          f"processes: {type(e).__name__}: {e}",
                                               "kind": "FlowOutputValueInvalid", "node": None}), tokens, names))

        sender = threading.Thread(target=send_results, name="pfgit-results", daemon=True)
        sender.start()

        orphaned = False
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError):
                orphaned = True   # the parent is gone (killed): its queued lines would go nowhere
                break
            if item is None:
                break
            seq, args = item
            pool.submit(job, *args).add_done_callback(lambda f, s=seq: outbox.put((s, f)))
        pool.shutdown(wait=True, cancel_futures=orphaned)
        outbox.put(None)
        sender.join()
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

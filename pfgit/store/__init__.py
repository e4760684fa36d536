"""Run snapshots as git commits under refs/pfgit/runs/<name> (dulwich only). See docs/runs.md."""


def __getattr__(name):  # lazy: importing pfgit.store stays cheap
    if name in ("record_run", "record_result", "RecordedRun"):
        from . import snapshot

        return getattr(snapshot, name)
    raise AttributeError(name)

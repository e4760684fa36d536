"""The SQLite run index (.git/pfgit/index.sqlite), a cache of the run refs. See docs/runs.md.

Kept import-free: git hooks run `python -m pfgit.index.hook`, which must not load dulwich."""


def __getattr__(name):
    if name in ("open_index", "rebuild", "with_index", "RunIndex"):
        from . import db

        return getattr(db, name)
    raise AttributeError(name)

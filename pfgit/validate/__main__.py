"""`python -m pfgit.validate [PATH]... [--json] [--strict] [--staged]`: `pfgit validate` without
the CLI framework, for git hooks (see command.py)."""

import sys

from ..output import safe_streams
from .command import main

with safe_streams():
    code = main(sys.argv[1:])
sys.exit(code)

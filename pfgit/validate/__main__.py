"""`python -m pfgit.validate [PATH]... [--json] [--strict] [--staged]`: `pfgit validate` without
the CLI framework, for git hooks (see command.py)."""

import sys

from .command import main

sys.exit(main(sys.argv[1:]))

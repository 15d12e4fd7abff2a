"""Log lines of jobs: to standard error, which the workflow sends to the rule's log file."""

import sys


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

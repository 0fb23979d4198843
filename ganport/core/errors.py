"""Errors a user can cause, and the exit code each one maps to.

The CLI turns these into one line on stderr; anything else is a bug and gets a
traceback only with ``--debug``.
"""


class GanportError(Exception):
    """Base class: the job could not run as asked. Exit code 1."""

    exit_code = 1


class InputError(GanportError):
    """Bad usage or input: a missing path, a corrupt or wrong file, an impossible option. Exit 2."""

    exit_code = 2


class JobFailed(GanportError):
    """The job ran and its result is a failure (parity mismatch, non-finite output). Exit 1."""

    exit_code = 1


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type where it has none): what a
    one-line error or a report cell quotes of a library's own, often multi-line, error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

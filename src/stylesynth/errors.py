"""The two kinds of failure a user can meet, each mapped to an exit status.

Library code raises these with a one-line message that names the problem and,
where there is one, the fix. The CLI prints that line on stderr and exits with
`exit_code`; anything else is a bug and shows a traceback only with --debug.
"""


class StylesynthError(Exception):
    """A runtime failure the user can act on (exit status 1)."""

    exit_code = 1


class InputError(StylesynthError):
    """Bad input or usage: a missing file, an unknown layer, a bad value (exit status 2)."""

    exit_code = 2

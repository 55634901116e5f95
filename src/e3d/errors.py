"""Error types. Every E3DError is a problem with the user's input or files: the CLI prints its
message as one line (exit status 2) instead of a traceback."""


class E3DError(Exception):
    """Base of all user-facing errors."""


class UserError(E3DError):
    """Bad arguments or input files."""

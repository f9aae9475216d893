"""Who is running a management command, for the records it leaves (who asked)."""

import getpass


def operator_name() -> str:
    """The OS user running the command."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment nor in /etc/passwd (containers)
        return "unknown user"

"""What management commands share."""

import getpass


def operator() -> str:
    """The OS user running the command, for the records it leaves (who asked)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment nor in /etc/passwd (containers)
        return "unknown user"

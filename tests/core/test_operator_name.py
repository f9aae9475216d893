"""Who runs a management command (core.operator_name), for the records it leaves."""

import getpass
import pwd

from core.operator_name import operator_name


def test_a_container_user_without_a_login_name_is_an_unknown_user(monkeypatch):
    """No LOGNAME or USER, and a uid /etc/passwd does not list (an image run with
    `--user 12345`): getpass raises, and the command still runs."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)

    def not_in_passwd(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", not_in_passwd)

    assert operator_name() == "unknown user"
    monkeypatch.setenv("USER", "ops")
    assert operator_name() == getpass.getuser() == "ops"

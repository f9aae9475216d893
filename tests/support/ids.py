"""Ids a forged task message or command may carry: what the id columns (64-bit) hold and
what they do not."""

BIGINT_MAX = 2**63 - 1
# Within a 32-bit column's range or not, beyond a 64-bit one, as a JSON number or a string.
HUGE_IDS = [2**31, 2**63, 10**30, str(2**63), str(10**30)]

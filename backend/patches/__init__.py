"""Patches of third-party libraries' behaviour: the exception, all of them here, one
module per library, none mixed into configuration.

The product uses its libraries' settings, documented hooks and public classes. A patch
reaches a private detail that none of those reach, and only where that is measured and
worth it, or closes a hole. Each module says:

- why it exists, and the upstream issue it works around (or, without one, the upstream
  file and function it changes);
- the versions of the library it was checked against (CHECKED_VERSIONS);
- what it does on any other version: it falls back to the library's own behaviour and
  logs one warning, unless that behaviour is the hole it closes (a security patch), and
  then it refuses to start, loudly, naming the module to check.

Each has tests that fail when an upgrade changes what it patches, including one that
shows the shipped behaviour it exists for (when that one fails, drop the patch).

- flower.py: Flower's /metrics behind Flower's basic auth (security: refuses to start on
  an unchecked version), and its Broker page asking every Sentinel of a sentinel:// broker
  URL (falls back). Applied by ops/flower/flowerconfig.py; tests/patches/test_flower.py.
"""

"""Container health check for an HTTP endpoint (the slim image has no curl).

    python ops/docker/http_healthcheck.py http://127.0.0.1:8000/healthz

Exit status 0 on a 2xx answer within 5 seconds, 1 otherwise. Django answers 400 to a
Host header it does not know, so the request names the first host of
DJANGO_ALLOWED_HOSTS (when set) and says it came over https, as the proxy would.
Repeated slashes in the path are folded, so a URL built from an empty prefix works.
"""

import os
import re
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit


def host_header() -> str | None:
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")  # ".example.com" allows example.com too
        if host and host != "*":
            return host
    return None


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} URL", file=sys.stderr)
        return 2
    parts = urlsplit(sys.argv[1])
    url = urlunsplit(parts._replace(path=re.sub("/{2,}", "/", parts.path)))
    headers = {"X-Forwarded-Proto": "https"}
    if host := host_header():
        headers["Host"] = host
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) URL from compose)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status = response.status
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

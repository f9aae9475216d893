"""Running the suite's stand-in servers (provider, SMTP, Sentry) in this process."""

import contextlib
import socketserver
import threading


@contextlib.contextmanager
def serving(server: socketserver.BaseServer, name: str):
    """Serve `server` from a daemon thread for the duration of the block, then close it."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

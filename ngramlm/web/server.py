"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer`` (a thread
a request, so a slow run page never holds up a live poll) in front of ``App``.

GET and HEAD only (any other method: 405, nothing writes). Bound to a loopback address
(the default, 127.0.0.1), it answers only requests addressed to this machine by name
(``Host: 127.0.0.1`` or ``localhost``): a web page elsewhere that points its own name at
127.0.0.1 (DNS rebinding) gets a 403, not the store."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ngramlm.api import Experiments
from ngramlm.errors import InputError
from ngramlm.web.app import App, Response, message

LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Server(ThreadingHTTPServer):
    daemon_threads = True
    app: App
    local_only: bool


class Server6(Server):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "ngramlm-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self.answer(head=False)

    def do_HEAD(self) -> None:
        self.answer(head=True)

    def refuse_write(self) -> None:
        self.send(message(405, "the dashboard is read-only: it answers GET requests only"))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = refuse_write

    def answer(self, head: bool) -> None:
        if self.server.local_only and not self.addressed_here():
            self.send(message(403, "this dashboard answers requests for localhost only"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.send(self.server.app.handle(self.path, headers), head=head)

    def addressed_here(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOCAL_NAMES

    def send(self, r: Response, head: bool = False) -> None:
        self.send_response(r.status)
        for key, value in r.headers.items():
            self.send_header(key, value)
        if r.status != 304:
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(r.body)))
        self.end_headers()
        if not head and r.status != 304:
            self.wfile.write(r.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are not logged (a bug's traceback still is, by ``App``)."""


class Dashboard:
    """A dashboard serving one store read-only at ``url`` (``start`` it in a thread, or
    ``serve`` until Ctrl-C; ``stop`` ends it and closes the store)."""

    def __init__(self, exp: Experiments, host: str = "127.0.0.1", port: int = 8080) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"--port must be 0 to 65535 (0: a free port), got {port!r}")
        self.exp = exp
        self.app = App(exp)
        kind = Server6 if ":" in host.strip("[]") else Server
        try:
            self.httpd = kind((host.strip("[]"), port), Handler)
        except OSError as err:
            why = err.strerror or str(err)
            raise InputError(
                f"cannot listen on {host}:{port} ({why}); give another --port (0: any free "
                "one) or --host"
            ) from None
        self.httpd.app = self.app
        self.httpd.local_only = is_loopback(host.strip("[]"))
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/"

    @property
    def exposure(self) -> str | None:
        """One line when the dashboard is reachable from other machines, else None."""
        if self.httpd.local_only:
            return None
        return (
            f"warning: listening on {self.host}: anyone who can reach this machine on port "
            f"{self.port} can read the store (its runs, curves, settings and samples)"
        )

    def start(self) -> Dashboard:
        """Serve in a background thread (a notebook's way); returns at once."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve in this thread until Ctrl-C, then stop."""
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        finally:
            self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        self.exp.close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def open_dashboard(url: str | None = None, host: str = "127.0.0.1", port: int = 8080) -> Dashboard:
    """A dashboard on the store at ``url`` (``--db``'s default: ``$NGRAMLM_DB``, else
    ``sqlite:///ngramlm.db``), opened read-only (nothing is created, migrated or written)
    and listening on ``host:port``, not serving yet (``start`` or ``serve``)."""
    exp = Experiments(url, read_only=True)
    exp.store  # noqa: B018 - open it now: a missing store or a bad URL fails here
    try:
        return Dashboard(exp, host, port)
    except BaseException:
        exp.close()
        raise


def dashboard(url: str | None = None, *, host: str = "127.0.0.1", port: int = 8080) -> Dashboard:
    """Serve the store at ``url`` read-only in the browser, from a background thread:
    ``d = ngramlm.dashboard(); print(d.url)`` ... ``d.stop()`` (or ``with``). ``port=0``
    takes a free port. ``ngramlm dashboard`` is the same from the command line."""
    return open_dashboard(url, host, port).start()

"""The dashboard as a function of a request: a path and its query in, a ``Response``
out (no sockets here, so every endpoint is tested in-process as well as over HTTP).

Routes (GET only; nothing writes):

- ``/`` the page (``static/index.html``), ``/static/NAME`` its files, served from a
  list made at start, so no path can reach outside it;
- ``/api/info``: the store's name (never a password) and this ngramlm's version;
- ``/api/runs``: a page of the runs table (filters, sort, ``limit`` up to 500,
  ``offset``); ``/api/runs.json`` and ``/api/runs.csv``: the selection whole, as
  ``report --json`` and ``report --csv`` write it;
- ``/api/settings``: the runs' settings that are not columns (``hp.KEY`` filters);
- ``/api/stamp``: what changes when the store does (an ETag: 304 when unchanged);
- ``/api/runs/ID``: one run in depth; ``/api/runs/ID/live?after=STEP``: its new
  points and status (an ETag: 304 when nothing changed); ``/api/runs/ID/embeddings``:
  a network's embedding rows and tokens;
- ``/api/compare?runs=1,2``: runs side by side;
- ``/api/sweeps``, ``/api/sweeps/ID``: sweeps and searches; ``/api/datasets``;
- ``/api/datasets.csv|json``, ``/api/sweeps.csv|json``, ``/api/sweeps/ID.csv|json``:
  those tables as files (a search's trials, a grid's runs).

A refused request is a 4xx with a one-line JSON message (``{"error": ...}``); a store
that cannot be read, a 503 with its message; a bug, a 500 with a short line (the
traceback goes to the server's log, never to the page)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ngramlm.api import Experiments
from ngramlm.errors import InputError, NgramlmError, NotFoundError
from ngramlm.version import __version__
from ngramlm.web import pages, sweeps
from ngramlm.web.params import HttpError, Query, ids, one, record_id
from ngramlm.web.runs import RunsTable, csv_text

# The page's own files only: nothing from another origin, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MAX_URL = 4096
TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "txt": "text/plain; charset=utf-8",
}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def to_json(data: Any) -> bytes:
    """JSON text; an infinite or NaN loss (JSON has none) is sent as null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(data), default=str, ensure_ascii=False).encode()


def message(status: int, text: str) -> Response:
    return Response(status, to_json({"error": text}))


def assets() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: name -> (bytes, content type)."""
    out = {}
    for item in (resources.files("ngramlm.web") / "static").iterdir():
        if item.is_file() and re.match(r"^[a-z0-9_-]+\.(html|js|css|svg|png|txt)$", item.name):
            out[item.name] = (item.read_bytes(), TYPES[item.name.rsplit(".", 1)[1]])
    return out


class App:
    """One store's dashboard: ``handle(target, headers)`` answers a GET request."""

    def __init__(self, exp: Experiments) -> None:
        self.exp = exp
        self.table = RunsTable(exp)
        self.importances = sweeps.Importances()
        self.files = assets()
        self.exact: dict[str, Callable[[Query], Any]] = {
            "/api/info": lambda q: self.info(),
            "/api/runs": self.table.page,
            "/api/runs.json": self.table.export_json,
            "/api/settings": lambda q: self.table.settings(),
            "/api/compare": lambda q: pages.compare(exp, ids(q)),
            "/api/sweeps": lambda q: sweeps.sweeps_page(exp, self.table),
            "/api/datasets": lambda q: sweeps.datasets_page(exp, self.table),
        }

    def info(self) -> dict[str, Any]:
        return {"store": self.exp.where, "version": __version__, "read_only": True}

    def handle(self, target: str, headers: Mapping[str, str] | None = None) -> Response:
        """The response to ``GET target`` (``headers``: names in lower case); nothing
        escapes as an exception."""
        headers = headers or {}
        try:
            response = self.route(target, headers)
        except HttpError as err:
            response = message(err.status, err.message)
        except NotFoundError as err:
            response = message(404, str(err))
        except InputError as err:
            response = message(400, str(err))
        except NgramlmError as err:  # the store cannot be read now
            response = message(503, str(err))
        except Exception:  # a bug: a short line here, the traceback in the log
            traceback.print_exc(file=sys.stderr)
            response = message(500, "internal error (the dashboard's log has the details)")
        response.headers = {**SECURITY_HEADERS, **response.headers}
        return response

    def route(self, target: str, headers: Mapping[str, str]) -> Response:
        if len(target) > MAX_URL:
            raise HttpError(414, "the address is too long")
        parts = urlsplit(target)
        path = parts.path
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False,
                             max_num_fields=100)  # fmt: skip
        except ValueError:
            raise HttpError(400, "too many parameters") from None
        if path in ("/", "/index.html"):
            return self.static("index.html")
        if path.startswith("/static/"):
            return self.static(path.removeprefix("/static/"))
        if path in self.exact:
            return Response(200, to_json(self.exact[path](query)))
        if path == "/api/runs.csv":
            text = self.table.export_csv(query)
            saved = {"Content-Disposition": 'attachment; filename="ngramlm-runs.csv"'}
            return Response(200, text.encode(), "text/csv; charset=utf-8", saved)
        found = re.match(r"^/api/(datasets|sweeps|sweeps/[^/.]+)\.(csv|json)$", path)
        if found is not None:
            return self.export(*found.groups())
        if path == "/api/stamp":
            return tagged({"stamp": self.table.stamp()}, headers)
        found = re.match(r"^/api/(runs|sweeps)/([^/]+)(/live|/embeddings)?$", path)
        if found is None:
            raise HttpError(404, f"no page {path[:60]!r}; the dashboard starts at /")
        what, text, part = found.groups()
        if what == "sweeps" and not part:
            sweep_id = record_id(text, "sweep")
            return Response(200, to_json(sweeps.sweep_page(self.exp, sweep_id, self.table,
                                                           self.importances)))  # fmt: skip
        if what == "sweeps":
            raise HttpError(404, "a sweep has only its page: /api/sweeps/ID")
        run_id = record_id(text)
        if part == "/live":
            return tagged(pages.live(self.exp, run_id, pages.after_step(one(query, "after"))),
                          headers)  # fmt: skip
        if part == "/embeddings":
            return Response(200, to_json(pages.embedding_table(self.exp, run_id)))
        return Response(200, to_json(pages.run_page(self.exp, run_id)))

    def export(self, what: str, kind: str) -> Response:
        """The datasets, the sweeps, or one sweep's trials (a grid's runs) as a file."""
        if what == "datasets":
            rows = sweeps.datasets_page(self.exp, self.table)["datasets"]
        elif what == "sweeps":
            rows = sweeps.sweeps_page(self.exp, self.table)["sweeps"]
        else:
            sweep_id = record_id(what.removeprefix("sweeps/"), "sweep")
            page = sweeps.sweep_page(self.exp, sweep_id, self.table, self.importances)
            rows = page["trials"] if page["kind"] == "search" else page["runs"]
        name = "ngramlm-" + what.replace("/", "-")
        saved = {"Content-Disposition": f'attachment; filename="{name}.{kind}"'}
        if kind == "json":
            return Response(200, to_json({what.split("/")[0]: rows}), headers=saved)
        return Response(200, csv_text(rows).encode(), "text/csv; charset=utf-8", saved)

    def static(self, name: str) -> Response:
        found = self.files.get(name)
        if found is None:
            raise HttpError(404, "no such file")
        body, kind = found
        return Response(200, body, kind)


def tagged(data: Any, headers: Mapping[str, str]) -> Response:
    """``data`` with an ETag: 304 and no body when the page already holds it."""
    body = to_json(data)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    if headers.get("if-none-match") == etag:
        return Response(304, b"", headers={"ETag": etag})
    return Response(200, body, headers={"ETag": etag})

"""``ngramlm dashboard``: one store served read-only in the browser (``ngramlm.dashboard``
from Python). The only importer of the web server (the standard library's
``http.server``); it reads the store through the Python API alone, writes nothing and
never touches the test split. Its page is plain files in ``static/`` (HTML, CSS and a
hand-written script that draws the figures as SVG): no CDN, no build step.

- ``params.py``: a request's ids, numbers, limits and filters, checked (``HttpError``);
- ``runs.py``: the runs table (``report``'s rows, kept between requests), filtered,
  sorted, paged and exported;
- ``pages.py``: one run in depth, its live points, runs side by side;
- ``sweeps.py``: sweeps and searches, datasets;
- ``app.py``: a request to a response (routes, JSON, the page's files, errors as 4xx);
- ``server.py``: the HTTP server, ``Dashboard``, ``dashboard()``.
"""

from __future__ import annotations

from ngramlm.web.server import Dashboard as Dashboard
from ngramlm.web.server import dashboard as dashboard
from ngramlm.web.server import open_dashboard as open_dashboard

"""/admin/: the web UI's URLs, one module per area (signin, overview, tenants, events, apps,
receivers, releases, queues). Each view parses its input, calls one service function and renders
the result; every action (a POST) answers with a redirect to a page (post/redirect/get), so
reloading that page never repeats the action. Every page but the login page needs a signed-in
admin; every POST needs the form's CSRF token (400 without it). The blueprint and what the views
share are in common.py."""

from __future__ import annotations

# The views register themselves on bp when imported.
from suite_server.admin.routes import (  # noqa: F401
    apps,
    events,
    overview,
    queues,
    receivers,
    releases,
    signin,
    tenants,
)
from suite_server.admin.routes.common import bp

__all__ = ["bp"]

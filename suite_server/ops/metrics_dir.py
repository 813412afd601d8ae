"""PROMETHEUS_MULTIPROC_DIR: the directory where every process of a host (gunicorn's,
`suite-server worker`, `suite-server cron`) writes its counters for /metrics to add up.

prometheus-client decides once, when it is imported, whether this process writes there, and
opens its file there at the first increment. A directory that is missing or not writable would
make that increment raise inside a request or a job (a token refresh the platform already
answered would be lost with it). So ops/metrics.py, the one module that imports
prometheus_client, calls `check()` first: an unusable directory is named in one warning line and
this process keeps its counters in memory, as it does without the variable.
"""

from __future__ import annotations

import logging
import os
import sys

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger(__name__)


def configured() -> str | None:
    """The directory the variable names, or None when it is not set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def check() -> str | None:
    """The directory this process will write its counters to, or None (not set, or unusable:
    then the variable is taken out of this process's environment, with one warning line)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path is None:
        return None
    if not path or not os.path.isdir(path):  # set but empty: prometheus-client would use "."
        problem = "is not an existing directory"
    elif not os.access(path, os.W_OK | os.X_OK):
        problem = "is not writable by this process"
    else:
        return path
    if "prometheus_client.values" in sys.modules:
        # Too late to choose: prometheus-client has read the variable already.
        log.warning("%s=%s %s: counting will fail", VARIABLE, path, problem)
        return path
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    log.warning(
        "%s=%s %s: this process keeps its metrics to itself (create the directory empty "
        "before starting the processes)",
        VARIABLE,
        path,
        problem,
    )
    return None

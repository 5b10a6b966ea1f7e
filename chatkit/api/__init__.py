"""REST API: the seed's three endpoints over the same engine, for frontends and tools.

`app` builds the FastAPI app (middleware, CORS, errors) and serves it; `deps` holds the named
dependencies (context, settings, services, the bearer-token check); `routes/` one router per
resource; `schemas` the request and response bodies.
"""

from chatkit.api.app import LOOPBACK_HOSTS, create_app, main
from chatkit.api.deps import CPU_WORKERS, LOCAL_ACTOR, token_id
from chatkit.api.routes.analytics import PREFIX, SERVICE, TAG

__all__ = [
    "CPU_WORKERS",
    "LOCAL_ACTOR",
    "LOOPBACK_HOSTS",
    "PREFIX",
    "SERVICE",
    "TAG",
    "create_app",
    "main",
    "token_id",
]

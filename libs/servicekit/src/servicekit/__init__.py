"""servicekit: database engine, lifespan resources and health probes shared by every todo-suite service."""

from servicekit.db import make_engine
from servicekit.health import health_router
from servicekit.migrations import MigrationError, upgrade_to_head
from servicekit.resources import Resources, open_resources
from servicekit.threads import in_thread
from servicekit.unavailable import install_unavailable_handler
from servicekit.warmup import warm_routes

__all__ = [
    "MigrationError",
    "Resources",
    "health_router",
    "in_thread",
    "install_unavailable_handler",
    "make_engine",
    "open_resources",
    "upgrade_to_head",
    "warm_routes",
]

"""servicekit: database engine, lifespan resources and health probes shared by every todo-suite service."""

from servicekit.db import make_engine
from servicekit.health import health_router
from servicekit.migrations import MigrationError, upgrade_to_head
from servicekit.resources import Resources, open_resources
from servicekit.unavailable import install_unavailable_handler

__all__ = [
    "MigrationError",
    "Resources",
    "health_router",
    "install_unavailable_handler",
    "make_engine",
    "open_resources",
    "upgrade_to_head",
]

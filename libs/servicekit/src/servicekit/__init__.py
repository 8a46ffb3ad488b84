"""servicekit: database engine and health probes shared by every todo-suite service."""

from servicekit.db import make_engine
from servicekit.health import health_router

__all__ = ["health_router", "make_engine"]

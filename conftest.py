"""The fixtures every service's tests share come from one plugin, `authz.pytest_plugin`."""

import os

pytest_plugins = ["authz.pytest_plugin"]

# Unit tests export no spans (the standard switch, docs/observability.md); the processes the e2e tests start
# inherit it, except where a test turns tracing on for its own suite.
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

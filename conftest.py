"""The fixtures every service's tests share come from one plugin, `authz.pytest_plugin`."""

pytest_plugins = ["authz.pytest_plugin"]

"""Alembic runs this file for every command on web's migrations; the one body for all services is in servicekit."""

from servicekit.migrations import database_url_setting, run_env
from web.settings import Settings

run_env("web.migrations", default_url=lambda: database_url_setting(Settings))

"""Alembic runs this file for every command on identity's migrations; the one body for all services is in servicekit."""

from identity.settings import Settings
from servicekit.migrations import database_url_setting, run_env

run_env("identity.migrations", default_url=lambda: database_url_setting(Settings))

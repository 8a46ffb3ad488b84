"""Alembic runs this file for every command on shares' migrations; the one body for all services is in servicekit."""

from servicekit.migrations import database_url_setting, run_env
from shares.settings import Settings

run_env("shares.migrations", default_url=lambda: database_url_setting(Settings))

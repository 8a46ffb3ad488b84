"""Alembic runs this file for every command on identity's migrations; the one body for all services is in servicekit."""

from identity.migrate import database_url
from servicekit.migrations import run_env

run_env("identity.migrations", default_url=database_url)

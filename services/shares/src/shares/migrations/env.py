"""Alembic runs this file for every command on shares' migrations; the one body for all services is in servicekit."""

from servicekit.migrations import run_env
from shares.migrate import database_url

run_env("shares.migrations", default_url=database_url)

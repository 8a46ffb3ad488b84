"""Alembic runs this file for every command on todos' migrations; the one body for all services is in servicekit."""

from servicekit.migrations import run_env
from todos.migrate import database_url

run_env("todos.migrations", default_url=database_url)

"""Alembic runs this file for every command on reminders' migrations; the one body for all services is in servicekit."""

from reminders.migrate import database_url
from servicekit.migrations import run_env

run_env("reminders.migrations", default_url=database_url)

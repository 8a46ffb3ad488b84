"""Alembic runs this file for every command on reminders' migrations; the one body for all services is in servicekit."""

from reminders.settings import Settings
from servicekit.migrations import database_url_setting, run_env

run_env("reminders.migrations", default_url=lambda: database_url_setting(Settings))

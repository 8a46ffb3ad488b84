"""Helpers for the end-to-end tests: databases, a discovery-driven client, token forgery."""

"""Prefect flows: each reads top to bottom as the migration step it runs."""

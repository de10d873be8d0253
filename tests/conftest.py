"""Shared pytest fixtures. Append small fixtures; do not rewrite."""

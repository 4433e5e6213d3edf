"""Rendering of templates into channel content."""

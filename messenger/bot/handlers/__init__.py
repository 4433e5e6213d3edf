"""Telegram handlers: parse the update, call a service, reply."""

"""Channels: small adapters that deliver rendered content to an address."""

"""Pacing: one pacer per provider account that every request waits in, shared between processes."""

from messenger.pacing.pacer import Pacer

__all__ = ["Pacer"]

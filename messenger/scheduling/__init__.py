"""The alarm clock (APScheduler) and the dispatcher it wakes."""

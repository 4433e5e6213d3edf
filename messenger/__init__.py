"""messenger: keeps a clinic in touch with each patient through a ketamine-infusion series."""

__version__ = "0.1.0"

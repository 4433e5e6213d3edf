"""The domain: database rows, enumerations and series definitions (pure)."""

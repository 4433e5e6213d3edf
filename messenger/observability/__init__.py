"""Operations: logging that keeps secrets and personal data out, and Prometheus metrics."""

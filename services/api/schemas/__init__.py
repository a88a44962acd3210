"""Request validation: the one place that decides whether a body is acceptable."""

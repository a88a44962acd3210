"""Prometheus metrics: the instruments every process kind updates, and how each exposes them.

``setup`` runs first in an entry point (before prometheus_client is imported:
its multiprocess mode is chosen at import), ``instruments`` holds the
counters and histograms, ``gauges`` the scheduler's scrape-time collector
(queues, rate, quota). Where each kind serves them: docs/operations.md.
"""

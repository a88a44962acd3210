"""Outbound webhooks (issue 28): what a producer may subscribe to and how it is told.

``events`` names every event type and the version of the envelope; the
outbox rows are written by ``shared.db.outbox`` in the transactions that
cause them, and delivered by the ``mailpipe webhooks`` workers.
"""

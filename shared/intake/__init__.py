"""Intake: the business rules between a valid request and stored, queued rows.

Every way in (the native API, the Biz and fureweb compat APIs, campaigns) goes
through these modules, so a rule (sender domains, suppression, idempotency,
enqueue after commit) is written once.
"""

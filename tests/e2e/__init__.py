"""End-to-end tests: whole stacks of real processes, PostgreSQL, Redis and SES/SMTP peers."""

"""``mailpipe smtp``: the SMTP submission server (aiosmtpd), STARTTLS and implicit TLS.

``main`` runs the listeners, ``session`` is aiosmtpd's SMTP session with AUTH
checked off the event loop, ``handler`` answers each verb with the intake
rules (shared.intake.submissions).
"""

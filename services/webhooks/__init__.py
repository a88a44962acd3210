"""`mailpipe webhooks`: dramatiq workers delivering outbound events (issue 28)."""

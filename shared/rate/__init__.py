"""Sending rate: the fleet-wide token bucket, the SES quota and the sending pause, all in Redis."""

"""Events from outside: Amazon SNS messages (verified) and the SES notifications they carry."""

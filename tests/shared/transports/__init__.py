"""Tests of shared.transports."""

"""Tests of shared.events."""

"""Tests of shared.rate."""

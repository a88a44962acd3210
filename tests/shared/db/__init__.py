"""Tests of shared.db."""

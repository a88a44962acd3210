"""Tests of shared.runtime."""

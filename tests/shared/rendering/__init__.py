"""Tests of shared.rendering."""

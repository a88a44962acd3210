"""Rendering: from a claimed row to what a transport sends (MIME, templates, tracking)."""

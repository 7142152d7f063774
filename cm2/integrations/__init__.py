"""Integrations of cm2 with outside training engines (each imports its engine lazily)."""

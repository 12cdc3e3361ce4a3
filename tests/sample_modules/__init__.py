"""Tiny modules for ``Pipeline.from_module`` tests."""

"""Importable sample pipelines for the Dask tests (workers import stages by name)."""

"""A module that fails when imported."""

raise RuntimeError("this module is broken on purpose")

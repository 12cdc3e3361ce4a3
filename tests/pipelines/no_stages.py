"""A module without stages."""

VALUE = 1

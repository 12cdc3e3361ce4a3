"""The stage cache: keys (code fingerprint + argument hash), signed entries, the directory."""

from flowkit._cache.cache import Cache

__all__ = ["Cache"]

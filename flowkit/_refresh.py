"""The cache a run uses: ``run(cache=...)`` as a backend, seen through ``refresh=``.

Refreshing needs nothing from the engine: `RefreshingCache` answers every ``load`` of a
refreshed stage with a miss, so the stage runs and its ``store`` overwrites the entry. It keys
on the stage directory in the entry key, so ``map_over`` items are refreshed one by one too,
and it holds no state, so it pickles to process and Dask workers as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flowkit._graph import Graph
from flowkit._nested import CollectorStage, NestedStage
from flowkit._outputs import OutputStage
from flowkit._stage import Stage
from flowkit.errors import PipelineDefinitionError, did_you_mean

if TYPE_CHECKING:
    from flowkit._engine import CacheBackend

_MISS: tuple[bool, Any] = (False, None)


class RefreshingCache:
    """``cache`` whose entries of the stage directories ``dirnames`` (all when None) are
    never loaded: those stages run again and overwrite them."""

    def __init__(self, cache: CacheBackend, dirnames: frozenset[str] | None) -> None:
        self.cache = cache
        self.dirnames = dirnames

    def key(self, stage: Stage, kwargs: Mapping[str, Any]) -> str | None:
        return self.cache.key(stage, kwargs)

    def load(self, key: str) -> tuple[bool, Any]:
        if self.dirnames is None or key.partition("/")[0] in self.dirnames:
            return _MISS
        return self.cache.load(key)

    def store(self, key: str, value: Any) -> None:
        self.cache.store(key, value)

    def __repr__(self) -> str:
        return f"RefreshingCache({self.cache!r}, {self.dirnames!r})"


def as_cache(cache: Any) -> CacheBackend | None:
    """``run(cache=...)``: None, a backend object, or a directory for a `flowkit.Cache`."""
    if cache is None or hasattr(cache, "load"):
        return cache  # type: ignore[no-any-return]
    from flowkit._cache import Cache

    return Cache(cache)


def run_cache(graph: Graph, cache: Any, refresh: Iterable[str] | bool | None) -> Any:
    """The cache backend of a run with ``refresh=`` (names, True for all, None/False none).

    Raises:
        PipelineDefinitionError: ``refresh`` names no stage, or is given without a cache.
    """
    if refresh is None or refresh is False:
        return cache
    if cache is None:
        raise PipelineDefinitionError(
            "refresh= recomputes cached stages, but the run has no cache; pass cache=DIR"
        )
    if refresh is True:
        return RefreshingCache(as_cache(cache), None)  # type: ignore[arg-type]
    from flowkit._cache.files import stage_dirname

    names = (refresh,) if isinstance(refresh, str) else tuple(refresh)
    dirnames = frozenset(stage_dirname(name) for name in _refreshed(graph, names))
    return RefreshingCache(as_cache(cache), dirnames)  # type: ignore[arg-type]


def _refreshed(graph: Graph, names: tuple[str, ...]) -> set[str]:
    """The stages whose entries ``names`` mean: a stage itself, an output's producer, a
    nested pipeline's inner stages."""
    chosen: set[str] = set()
    for name in names:
        stage = graph.stages.get(name)
        if stage is None:
            raise PipelineDefinitionError(
                f"unknown refresh {name!r}: not a stage of this pipeline"
                f"{did_you_mean(name, graph.stages)}"
            )
        chosen.add(name)
        if isinstance(stage, OutputStage):
            chosen.add(stage.source)
        elif isinstance(stage, CollectorStage):
            chosen.update(
                n
                for n, s in graph.stages.items()
                if isinstance(s, NestedStage) and n.startswith(name + ".")
            )
    return chosen

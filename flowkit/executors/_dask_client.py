"""The Dask connection of a `flowkit.executors.dask.DaskExecutor`: a private
``LocalCluster`` (one run long, or kept inside ``with``), a scheduler address, or a given
``distributed.Client`` (never closed by flowkit)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import distributed as _distributed

from flowkit.executors._dask_events import local_cluster_options

__all__ = ["Connection"]

distributed: Any = _distributed  # mostly unannotated: go through Any


class Connection:
    """Connects to the cluster named by ``address`` (see `DaskExecutor`)."""

    def __init__(self, address: Any = None, **cluster_options: Any) -> None:
        if address is not None and cluster_options:
            raise TypeError(
                f"DaskExecutor: {', '.join(sorted(cluster_options))} configure the LocalCluster "
                "started when no address is given; configure your own cluster where you "
                "start it"
            )
        self.address = address
        self.cluster_options = cluster_options
        self._client: Any = None
        self._cluster: Any = None
        self._kept = False  # inside `with`: the private cluster outlives each run

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` while connected (during a run or inside ``with``)."""
        return self._client

    def __enter__(self) -> Self:
        self._connect()
        self._kept = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._kept = False
        self.close()

    def close(self) -> None:
        """Close what this executor started (its Client, its LocalCluster), never a Client
        or cluster it was given."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None and client is not self.address:
            client.close()
        if cluster is not None:
            cluster.close()

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        if isinstance(self.address, distributed.Client):
            self._client = self.address
            return self._client
        try:
            if self.address is None:
                self._cluster = distributed.LocalCluster(
                    **local_cluster_options(self.cluster_options)
                )
                self._client = distributed.Client(self._cluster, set_as_default=False)
            else:
                self._client = distributed.Client(self.address, set_as_default=False)
        except OSError as error:
            self.close()
            # distributed's message already names the address.
            raise OSError(
                f"{error}; start a scheduler there with `dask scheduler` (and workers with "
                "`dask worker ADDRESS`), or fix the address"
            ) from error
        except BaseException:
            self.close()
            raise
        return self._client

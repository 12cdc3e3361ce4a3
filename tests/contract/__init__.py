"""The executor-agnostic contract suite (DESIGN §3, §5, §9, §10, §11.1): one set of tests,
run on every executor: sequential, threads, async, processes, a Dask LocalCluster and a
fake executor object (`harness.FakeExecutor`, the one place to adapt when the executor
protocol changes).

- ``harness``: the executors, the files stages share across processes, event helpers.
- ``stages``, ``kinds``: module-level stages (so processes and Dask can import them).
- ``scripts``: pipelines run in a subprocess (interrupts, SystemExit, other BaseExceptions).
- ``test_findings``: the seven findings of issue 11.
- ``test_model``: random DAGs against a reference model of the contract.
- the other ``test_*`` modules: one behaviour each, on every executor.
"""

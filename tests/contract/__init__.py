"""The executor-agnostic contract suite (DESIGN §3, §5, §9, §10, §11.1): one set of tests,
run on every executor."""

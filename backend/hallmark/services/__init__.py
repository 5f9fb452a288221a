"""Use cases: the multi-step logic between the API/CLI and the chain, store and core layers."""

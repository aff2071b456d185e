"""The pytest adapter: hooks (``plugin.hooks``, the pytest11 entry point), options,
fixtures, model items, the session summary and baselines."""

"""The engine: find files, read them, pre-filter, parse, run rules, apply suppressions,
cache, fix and write back."""

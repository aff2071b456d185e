"""Benchmarks and the calibration zoo for pytest-nnhealth (not part of the package)."""

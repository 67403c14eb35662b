"""Speed benchmarks of introdet (not part of the package): ``python benchmarks/bench.py``."""

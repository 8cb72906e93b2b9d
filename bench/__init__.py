"""Benchmarks: load generator, routing decision timing and socket memory (run `python -m bench.run`)."""

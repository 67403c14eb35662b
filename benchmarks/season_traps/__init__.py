"""A second, independently built test library with season-mode traps, and its evaluator.

See README.md: ``python -m benchmarks.season_traps.make out=DIR`` then
``python -m benchmarks.season_traps.evaluate truth=DIR/truth.json pred=PRED``.
"""

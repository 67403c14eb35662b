"""Synthetic demo library: real encoded videos with known intros, for tests and the demo."""

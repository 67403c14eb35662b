"""Outputs: intro records and the files that players and media servers read."""

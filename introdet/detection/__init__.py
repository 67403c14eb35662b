"""Detection: per-second scores -> intro segments (model windows, season recurrence, refinement)."""

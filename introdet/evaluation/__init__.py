"""Evaluation: predictions scored against labels, tables and plots."""

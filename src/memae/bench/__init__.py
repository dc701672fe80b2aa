"""Benchmarks reproducing the papers' tables: one module per table, shared result tables."""

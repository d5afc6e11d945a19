"""Benchmarks for avsync and its actor runtime; each module documents the command that runs it."""

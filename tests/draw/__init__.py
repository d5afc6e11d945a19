"""Tests of the avsync._draw drawing toolkit."""

"""Shared pytest setup: plots never open a window, whatever the caller's environment."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

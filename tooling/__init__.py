"""Forklift: render, build, test and ship the devicemapper-capable container engine as RPMs."""

from pathlib import Path

__version__ = "0.1.0"

#: Root of the Forklift checkout (the directory holding tasks.py, specs/, selinux/ ...).
REPO_ROOT = Path(__file__).resolve().parent.parent

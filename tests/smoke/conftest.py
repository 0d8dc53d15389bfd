"""Fixtures of the smoke area: the storage tool loaded as a module."""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import SourceFileLoader
from types import ModuleType

import pytest

from tooling import REPO_ROOT

TOOL = REPO_ROOT / "specs" / "moby-dm-storage-setup" / "moby-dm-storage-setup"


def load_tool() -> ModuleType:
    loader = SourceFileLoader("moby_dm_storage_setup", str(TOOL))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tool() -> ModuleType:
    return load_tool()

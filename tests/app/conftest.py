"""Shared app fixtures: one tiny cache (runs built once per session) and clean streamlit caches per test."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
import torch

from tests.app.fixtures import build_runs


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory) -> Path:
    """An OPTICAL_CACHE holding the tiny run and the broken runs (see ``build_runs``)."""
    root = tmp_path_factory.mktemp("optical-cache")
    build_runs(root)
    return root


@pytest.fixture(autouse=True)
def _torch_threads():
    """The app's loaders switch torch to one thread; give the rest of the test session its setting back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cache(app_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(app_cache))
    yield app_cache
    st.cache_data.clear()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()

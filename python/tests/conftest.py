"""Shared by the package's tests (run against the installed wheel)."""

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # One cache per test session (compiling once), never the user's.
    monkeypatch.setenv("IHIST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))

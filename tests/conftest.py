"""Shared test helpers."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "ismir04"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ismir_fixtures() -> Path:
    if not (FIXTURES / "filenames.txt").exists():
        pytest.skip(f"real ISMIR2004 listing not found at {FIXTURES} (it lives in ../shared beside the checkout)")
    return FIXTURES

import pytest


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Tests never read the user's NORMACT_DATA; those that need it set it themselves."""
    monkeypatch.delenv("NORMACT_DATA", raising=False)

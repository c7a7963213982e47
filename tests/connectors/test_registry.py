"""The registry and the interface every connector shares."""

from __future__ import annotations

import inspect
import re

import pytest

from backup import connectors
from backup.connectors import REGISTRY, Connector, get, register
from backup.errors import UsageError

from .fakes import FakeClock


def test_the_built_in_platforms_are_registered():
    assert set(REGISTRY) == {"mastodon", "bluesky", "x", "github"}
    assert all(issubclass(cls, Connector) and cls.kinds == ("follower", "following") for cls in REGISTRY.values())


@pytest.mark.parametrize("platform", sorted(REGISTRY))
def test_each_platform_module_names_its_api_and_documentation(platform):
    doc = inspect.getmodule(REGISTRY[platform]).__doc__ or ""
    assert re.search(r"https://\S+", doc), f"{platform}: the module docstring should link the API documentation"


def test_an_unknown_platform_says_where_to_go():
    with pytest.raises(UsageError, match="no API connector for 'linkedin'") as missing:
        get("linkedin")
    assert "audience import" in missing.value.hint
    assert connectors.available("github") and not connectors.available("linkedin")


def test_unknown_options_and_kinds_are_usage_errors():
    with pytest.raises(UsageError, match="unknown connector options: fulll_profiles"):
        get("github")(handle="ana", client_options={"fulll_profiles": True})
    connector = get("github")(handle="ana", client_options=FakeClock().options())
    with pytest.raises(UsageError, match="no 'subscriber' list"):
        connector.fetch_page("subscriber", None)


def test_register_is_the_one_door():
    @register
    class Example(Connector):
        platform = "example-test"
        default_server = "https://api.example"

    try:
        assert get("example-test") is Example
        assert Example(handle="ana").http.base_url == "https://api.example"
    finally:
        REGISTRY.pop("example-test")

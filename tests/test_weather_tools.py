"""Stage 04's weather tools answer from the recorded NWS responses, and say clearly what they cannot answer.

The tools are called in process through the MCP SDK's own client (mcp.Client
connects to an MCPServer instance directly), with no HTTP server in between.
"""

import asyncio
import importlib

import httpx
import pytest
from mcp import Client

from grader.stages import SOLUTIONS
from workshop import weather


@pytest.fixture(scope="module")
def weather_server():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_KEY", "unit-test-key")
        patch.syspath_prepend(str(SOLUTIONS / "04-pure-asgi"))
        module = importlib.import_module("secure_weather_server")
    return module.mcp


def call(server, tool: str, **arguments) -> str:
    async def go():
        async with Client(server) as client:
            result = await client.call_tool(tool, arguments)
            return "\n".join(part.text for part in result.content)

    return asyncio.run(go())


def test_the_forecast_comes_from_the_recording(weather_server):
    text = call(weather_server, "get_forecast", latitude=40.7128, longitude=-74.0060)
    assert text.startswith("Tonight: 41°F, wind 5 mph NW. Mostly clear, with a low around 41.")
    assert text.count("---") == 4  # five periods


def test_nearby_coordinates_find_the_same_recording(weather_server):
    exact = call(weather_server, "get_forecast", latitude=47.6062, longitude=-122.3321)
    assert "Showers. High near 48." in exact
    assert call(weather_server, "get_forecast", latitude=47.60618, longitude=-122.33) == exact


def test_alerts_are_listed_with_their_instructions(weather_server):
    text = call(weather_server, "get_alerts", state="wa")
    assert "Winter Storm Warning (Severe)" in text and "Instructions: Travel could be" in text


def test_a_state_without_alerts_says_so(weather_server):
    assert call(weather_server, "get_alerts", state="NY") == "No active alerts for NY."


@pytest.mark.parametrize("state", ["California", "C1", ""])
def test_a_malformed_state_gets_a_clear_message(weather_server, state):
    assert "is not a two-letter US state code" in call(weather_server, "get_alerts", state=state)


def test_a_place_outside_the_recordings_gets_a_clear_message(weather_server):
    text = call(weather_server, "get_forecast", latitude=48.8566, longitude=2.3522)  # Paris
    assert text.startswith("Unable to fetch forecast data for (48.8566, 2.3522)")


def test_impossible_coordinates_get_a_clear_message(weather_server):
    assert "is not a valid latitude and longitude" in call(weather_server, "get_forecast", latitude=123, longitude=0)


def test_offline_is_the_default_and_one_setting_goes_live(monkeypatch):
    monkeypatch.delenv("NWS_LIVE", raising=False)
    assert isinstance(weather.nws_client()._transport, httpx.MockTransport)
    monkeypatch.setenv("NWS_LIVE", "1")
    assert not isinstance(weather.nws_client()._transport, httpx.MockTransport)


def test_an_unrecorded_request_gets_the_apis_404_problem():
    response = weather.answer_from_recordings(httpx.Request("GET", "https://api.weather.gov/stations"))
    assert response.status_code == 404 and response.json()["title"] == "Not Found"

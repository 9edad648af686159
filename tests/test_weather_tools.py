"""Stage 04's weather tools answer from the recorded NWS responses, and say clearly what they cannot answer.

The tools are called in process through the MCP SDK's own client (mcp.Client
connects to an MCPServer instance directly), with no HTTP server in between.
"""

import asyncio
import json
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


# -- the forecast URL comes from the upstream's answer: only the NWS API's origin is followed ------------

class _Upstream:
    """A loopback HTTP server that answers every GET with ANSWER (JSON) and remembers the paths it saw."""

    def __init__(self, answer: dict) -> None:
        import http.server
        import threading

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                seen.append(self.path)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/geo+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _credential(stage: str, folder):
    from bench import guards as bench_guards

    if stage == "04-pure-asgi":
        key = "weather-test-key"
        return bench_guards.the_api_key(folder, key), {"API_KEY": key}
    if stage == "05-key-management":
        return bench_guards.a_stored_key(folder, "weather-test-pepper"), {}
    return bench_guards.a_bearer_token(folder, ""), {"MCP_RESOURCE_URL": bench_guards.BENCH_RESOURCE}


@pytest.mark.parametrize("stage", ["04-pure-asgi", "05-key-management", "06-bearer-tokens"])
def test_a_forecast_url_on_another_origin_is_refused_not_fetched(stage, tmp_path):
    """With NWS_LIVE=1, an upstream answer whose forecast URL points at another origin (here another port:
    scheme, host and port all count) is not followed: the tool call fails and says which origin it refused."""
    from grader.harness import Server
    from grader.mcp_session import streamable_session

    elsewhere = _Upstream({"properties": {"periods": []}})
    recorded = json.loads((weather.RECORDINGS / "points-40.7128,-74.006.json").read_text())
    recorded["properties"]["forecast"] = f"{elsewhere.url}/gridpoints/OKX/33,35/forecast"
    nws = _Upstream(recorded)
    credential, env = _credential(stage, tmp_path)
    server = Server(SOLUTIONS / stage, "secure_weather_server:app", label=f"weather-{stage}",
                    env={**credential.env, **env, "NWS_LIVE": "1", "NWS_API_BASE": nws.url})
    try:
        server.wait_ready()
        result = streamable_session(f"{server.base_url}/mcp", {credential.header: credential.value},
                                    "get_forecast", {"latitude": 40.7128, "longitude": -74.006})
    finally:
        server.stop()
        nws.close()
        elsewhere.close()
    assert nws.seen == ["/points/40.7128,-74.0060"], nws.seen
    assert elsewhere.seen == [], f"the tool fetched {elsewhere.seen} from {elsewhere.url}"
    assert "the tool reported an error" in result.error, result.describe()
    assert f"Refused to fetch {elsewhere.url}" in result.result_text, result.result_text


def test_the_recordings_origin_is_the_only_one_the_client_accepts():
    assert weather.origin("https://API.weather.gov/points/1,2") == weather.origin("https://api.weather.gov:443/x")
    assert weather.origin("http://api.weather.gov/x") != weather.origin(weather.NWS_API_BASE)
    assert weather.origin("https://api.weather.gov.evil.example/x") != weather.origin(weather.NWS_API_BASE)

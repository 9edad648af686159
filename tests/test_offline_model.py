"""The offline model plays the agent loop: it picks the fitting tool, fills its arguments, answers from the result."""

import asyncio

from agents import Agent, Runner, function_tool

from workshop.models import OfflineModel, model_for

seen = []


@function_tool
def get_items() -> str:
    """Return every item on the shopping list."""
    seen.append("get_items")
    return '[{"name": "tea", "quantity": 2}]'


@function_tool
def get_forecast(latitude: float, longitude: float) -> str:
    """Get the weather forecast for a location."""
    seen.append(("get_forecast", latitude, longitude))
    return f"Sunny at {latitude}, {longitude}"


@function_tool
def get_alerts(state: str) -> str:
    """Get weather alerts for a US state."""
    seen.append(("get_alerts", state))
    return f"No alerts for {state}"


def ask(question: str) -> str:
    agent = Agent(name="test", instructions="", tools=[get_items, get_forecast, get_alerts], model=OfflineModel())
    return asyncio.run(Runner.run(agent, question)).final_output


def test_it_calls_the_tool_that_fits_and_answers_from_its_result():
    seen.clear()
    assert ask("Give me my shopping list") == "Here is what get_items returned:\n- name: tea, quantity: 2"
    assert seen == ["get_items"]


def test_it_fills_number_arguments_in_order():
    seen.clear()
    answer = ask("What is the forecast for 40.7128, -74.0060?")
    assert seen == [("get_forecast", 40.7128, -74.006)]
    assert "Sunny at 40.7128, -74.006" in answer


def test_it_fills_a_state_code():
    seen.clear()
    assert "No alerts for WA" in ask("Any weather alerts in WA?")
    assert seen == [("get_alerts", "WA")]


def test_it_says_so_when_no_tool_fits():
    agent = Agent(name="test", instructions="", tools=[], model=OfflineModel())
    answer = asyncio.run(Runner.run(agent, "Write me a poem")).final_output
    assert "no tool" in answer


def test_the_real_model_is_chosen_only_with_an_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert isinstance(model_for("gpt-4.1"), OfflineModel)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert model_for("gpt-4.1") == "gpt-4.1"
    monkeypatch.setenv("WORKSHOP_MODEL", "gpt-5-mini")
    assert model_for("gpt-4.1") == "gpt-5-mini"

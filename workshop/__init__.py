"""Runtime support shared by every stage of the workshop. Students do not edit it.

- workshop.models: which model an agent uses (offline and deterministic unless OPENAI_API_KEY is set).
- workshop.errors: turns a refused MCP connection into one plain sentence.
- workshop.weather: the National Weather Service client, answered from recorded responses offline.
"""

"""The lab's honest client: what a legitimate user of the server does, over streamable HTTP.

    MCP_SERVER_URL=http://127.0.0.1:7000/mcp API_KEY=... python client.py

After every fix, this still has to work: a fix that refuses everyone stops the attacker too.
"""

import json
import sys

from workshop.attack_lab.exploit_kit import API_KEY, call_tool

if not API_KEY:
    sys.exit("Set API_KEY to the key the server was started with.")

print("whoami:", call_tool("whoami"))
handle = call_tool("new_report", {"title": "Field notes", "body": "Clouds at noon."})
print("my report:", call_tool("read_report", {"handle": handle}))
links = json.loads(call_tool("list_forecasts"))["forecasts"]
print("forecast:", call_tool("get_forecast", {"forecast_url": links[0]}))

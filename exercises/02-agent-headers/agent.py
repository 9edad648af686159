"""An agent that uses the shopping-list tools over MCP, sending the API key.

MCPServerSse sends the headers in server_params with every HTTP request it
makes: the GET that opens the event stream and each POST to the message endpoint.
"""

import asyncio
import os

from agents import Agent, Runner
from agents.mcp import MCPServerSse

from workshop.errors import plain_errors
from workshop.models import model_for

# The full SSE endpoint. The grader (and you) can point the agent elsewhere.
MCP_SERVER_URL = os.environ.get("MCP_SERVER_URL", "http://127.0.0.1:3000/mcp/sse")

# TODO: read the key from the API_KEY environment variable (never write it here),
#       and build the header the server expects (see auth.py) as a dict.
#       Keys go in a header, never in the URL.
HEADERS = {}


async def main() -> None:
    server_params = {
        "url": MCP_SERVER_URL,
        # TODO: so far the connection carries only the URL, so every request leaves
        #       without the key. These parameters are also where the SDK takes the
        #       HTTP headers it sends on each request: give it yours here.
    }

    async with MCPServerSse(params=server_params) as mcp_server:
        agent = Agent(
            name="Shopping Assistant",
            instructions="You help with the shopping list. Use the shopping-list tools to answer.",
            mcp_servers=[mcp_server],
            # gpt-4.1 with OPENAI_API_KEY set; a deterministic offline model without it.
            model=model_for("gpt-4.1"),
        )
        result = await Runner.run(agent, "Give me my shopping list")
        print(result.final_output)


if __name__ == "__main__":
    with plain_errors(MCP_SERVER_URL, HEADERS):
        asyncio.run(main())

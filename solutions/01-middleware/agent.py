"""An agent that uses the shopping-list tools over MCP.

In this stage it connects WITHOUT an API key, so once the server is protected
it is refused with 401 Unauthorized. Stage 02 teaches it to send the key.
"""

import asyncio
import os

from agents import Agent, Runner
from agents.mcp import MCPServerSse

from workshop.errors import plain_errors
from workshop.models import model_for

# The full SSE endpoint. The grader (and you) can point the agent elsewhere.
MCP_SERVER_URL = os.environ.get("MCP_SERVER_URL", "http://127.0.0.1:3000/mcp/sse")


async def main() -> None:
    # No "headers" entry yet: the server will not let this agent in.
    server_params = {"url": MCP_SERVER_URL}

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
    with plain_errors(MCP_SERVER_URL):
        asyncio.run(main())

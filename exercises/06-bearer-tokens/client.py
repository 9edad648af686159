"""A weather agent that connects to the protected MCP server with a bearer token.

    export ACCESS_TOKEN=$(make -s token SCOPES="weather:read forecast:read")   # at the top of the workshop
    make agent STAGE=06

MCPServerStreamableHttp sends the headers in params with every request it
makes to the endpoint: the POSTs, the GET stream and the closing DELETE.
"""

import asyncio
import os
import sys

from agents import Agent, Runner
from agents.mcp import MCPServerStreamableHttp

from workshop.errors import plain_errors
from workshop.models import model_for

# The full MCP endpoint, and the token from the environment (never from source code).
MCP_SERVER_URL = os.environ.get("MCP_SERVER_URL", "http://127.0.0.1:5000/mcp")
ACCESS_TOKEN = os.environ.get("ACCESS_TOKEN", "")

QUESTION = "What is the weather forecast for New York City (40.7128, -74.0060)?"

# TODO: the header that carries ACCESS_TOKEN, as a dict: the Authorization header, with the
#       Bearer scheme (RFC 6750). Never in the URL.
HEADERS = {}


async def main() -> None:
    params = {
        "url": MCP_SERVER_URL,
        # TODO: so far the connection carries only the URL, so every request (the POSTs, the GET
        #       stream, the DELETE) leaves without the token. These parameters are also where the
        #       SDK takes the HTTP headers it sends on each request: give it yours here.
    }
    async with MCPServerStreamableHttp(params=params, name="weather") as weather:
        agent = Agent(
            name="Weather Assistant",
            instructions="You answer weather questions with the weather tools.",
            mcp_servers=[weather],
            # gpt-4.1 with OPENAI_API_KEY set; a deterministic offline model without it.
            model=model_for("gpt-4.1"),
        )
        print(f"Question: {QUESTION}\n")
        result = await Runner.run(agent, QUESTION)
        print(result.final_output)


if __name__ == "__main__":
    if not ACCESS_TOKEN:
        sys.exit("Set ACCESS_TOKEN to an access token for this server; at the top of the workshop:\n"
                 '  export ACCESS_TOKEN=$(make -s token SCOPES="weather:read forecast:read")')
    with plain_errors(MCP_SERVER_URL, HEADERS):
        asyncio.run(main())

"""The web app: a FastAPI shopping-list API with the MCP server mounted at /mcp."""

from fastapi import FastAPI
from starlette.middleware import Middleware

from auth import ApiKeyMiddleware
from mcp_server import mcp
from shopping_list import shopping_list

# Middleware given here wraps the whole app, the mounted MCP server included.
app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)])


@app.get("/items/")
async def get_all_items():
    """Every item on the shopping list."""
    return shopping_list.get_items()


# The MCP server speaks HTTP+SSE under /mcp: the agent opens GET /mcp/sse and
# posts its messages to /mcp/messages/.
app.mount("/mcp", mcp.sse_app())


if __name__ == "__main__":
    import uvicorn

    # Loopback only: nobody else on the network can reach a workshop server.
    uvicorn.run("main:app", host="127.0.0.1", port=3000)

"""The web app: a FastAPI shopping-list API with the MCP server mounted at /mcp."""

from fastapi import FastAPI
from starlette.middleware import Middleware

# TODO: this file does not know about the guard yet: it lives in auth.py.
from mcp_server import mcp
from shopping_list import shopping_list

# TODO: make every request pass through the guard before any route sees it, the
#       mounted MCP app's included. Register it on the application itself, not on
#       single routes: a route you forget would be open (lesson 01, Task 1).
app = FastAPI()


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

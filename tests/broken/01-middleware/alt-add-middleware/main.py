"""A correct alternative: add_middleware instead of the constructor argument."""

from fastapi import FastAPI

from auth import ApiKeyMiddleware
from mcp_server import mcp
from shopping_list import shopping_list

app = FastAPI()
app.add_middleware(ApiKeyMiddleware)


@app.get("/items/")
async def get_all_items():
    return shopping_list.get_items()


app.mount("/mcp", mcp.sse_app())

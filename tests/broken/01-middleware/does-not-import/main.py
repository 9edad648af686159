from fastapi import FastAPI
from starlette.middleware import Middleware

from auth import ApiKeyMiddlewre  # a typo: the import fails
from mcp_server import mcp

app = FastAPI(middleware=[Middleware(ApiKeyMiddlewre)])
app.mount("/mcp", mcp.sse_app())

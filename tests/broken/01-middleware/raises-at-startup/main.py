from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from auth import ApiKeyMiddleware
from mcp_server import mcp


@asynccontextmanager
async def lifespan(app):
    raise RuntimeError("cannot reach the shopping-list database")
    yield


app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)], lifespan=lifespan)
app.mount("/mcp", mcp.sse_app())

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from auth import ApiKeyMiddleware
from mcp_server import mcp


@asynccontextmanager
async def lifespan(app):
    await asyncio.sleep(3600)  # start-up never finishes, so uvicorn never binds its port
    yield


app = FastAPI(middleware=[Middleware(ApiKeyMiddleware)], lifespan=lifespan)
app.mount("/mcp", mcp.sse_app())

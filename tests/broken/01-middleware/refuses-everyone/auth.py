from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

API_KEY = "super_secret_value"
HEADER = "X-API-Key"


class ApiKeyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return JSONResponse({"detail": "no"}, status_code=401, headers={"WWW-Authenticate": "ApiKey"})

"""The peer for scripts/bench-guard-http: the same two endpoints in FastAPI, `/protected`
guarded by fastapi-cognito (validating the same RS256 token against the same keys, fetched
from the guard bench server's /jwks.json). Run: python fastapi_peer.py JWKS_URL PORT."""

import sys

import uvicorn
from fastapi import Depends, FastAPI
from fastapi_cognito import CognitoAuth, CognitoSettings
from pydantic import BaseModel, ConfigDict, Field

jwks_url, port = sys.argv[1], int(sys.argv[2])


class Claims(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    sub: str
    token_use: str
    tenant_id: str | None = Field(default=None, alias="custom:tenantId")


settings = CognitoSettings(
    check_expiration=True,
    jwt_header_name="Authorization",
    jwt_header_prefix="Bearer",
    userpools={"bench": {"region": "local", "userpool_id": "local_bench", "app_client_id": ["app"],
                         "jwks_url": jwks_url}},
)
auth = CognitoAuth(settings=settings, userpool_name="bench", custom_model=Claims)
app = FastAPI()


@app.get("/open")
async def open_endpoint():
    return "acme"


@app.get("/protected")
async def protected(claims: Claims = Depends(auth.auth_required)):
    return claims.tenant_id


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", workers=1)

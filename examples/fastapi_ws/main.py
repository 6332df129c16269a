"""A small FastAPI app for pydeploy.web: a page, a health check and a websocket echo, served over ASGI."""

from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

RELEASE = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()

app = FastAPI(title="fastapi_ws", version=RELEASE)


@app.get("/")
def index():
    return {"app": "fastapi_ws", "version": RELEASE, "message": "Hello from pydeploy.web"}


@app.get("/healthz")
def healthz():
    return {"status": "ok", "version": RELEASE}


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    """Send each text message back prefixed with the release, so a test can tell which release answered."""
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{RELEASE}: {text}")
    except WebSocketDisconnect:
        pass

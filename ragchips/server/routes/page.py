"""``GET /``: a small chat page, with every asset served from here (it works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def page_route() -> FileResponse:
    """Ask, read the answer as it streams, click a citation to read its source."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

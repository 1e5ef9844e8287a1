"""``/health``: which index generation this worker serves, and whether it is stale."""

from __future__ import annotations

import os
import sys

from fastapi import APIRouter, Depends

from ...index import Index
from ..schemas import HealthOut
from ..state import Service, get_index, get_service, require_key

# Loaded only by index building; their presence in a server process is a regression.
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers")

router = APIRouter(dependencies=[Depends(require_key)], tags=["health"])


@router.get("/health", response_model=HealthOut, summary="What is served")
def health_route(
    index: Index = Depends(get_index),  # noqa: B008
    service: Service = Depends(get_service),  # noqa: B008
) -> HealthOut:
    """The index being served; ``generation`` changes when a rebuild is picked up."""
    return HealthOut(
        status="stale" if service.holder.error else "ok",
        index=str(service.index_path),
        generation=index.generation,
        documents=len(index.doc_ids()),
        passages=len(index),
        error=service.holder.error,
        heavy_modules=sorted(m for m in HEAVY_MODULES if m in sys.modules),
        worker_pid=os.getpid(),
    )

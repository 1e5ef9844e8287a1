"""``/ask``, ``/search`` and ``/documents/{doc_id}``: the collection's own API."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request

from ...api import ask
from ...conversation import check_encodable
from ...index import Index
from ...results import Answer
from ..errors import ApiError
from ..schemas import AnswerOut, AskRequest, DocumentOut, SearchOut, SearchRequest
from ..state import Service, get_index, get_service, require_key

router = APIRouter(dependencies=[Depends(require_key)], tags=["answers"])


@router.post("/ask", response_model=AnswerOut, summary="Answer with sources")
def ask_route(
    body: AskRequest,
    index: Index = Depends(get_index),  # noqa: B008
    service: Service = Depends(get_service),  # noqa: B008
) -> AnswerOut:
    """The answer and the passages it cites (the JSON of ``ragchips ask --json``)."""
    check_encodable(body.question, "question")
    client = service.chat_client(body.llm)
    with service.slot(client):
        answer = ask(
            body.question,
            k=body.k,
            index=index,
            mode=body.mode,
            where=body.where,
            llm=client,
            settings=service.settings,
        )
    assert isinstance(answer, Answer)
    return AnswerOut.model_validate(answer.to_dict())


@router.post("/search", response_model=SearchOut, summary="Passages only")
def search_route(
    body: SearchRequest,
    index: Index = Depends(get_index),  # noqa: B008
    service: Service = Depends(get_service),  # noqa: B008
) -> SearchOut:
    """The ``k`` best passages, best first, each with its exact span in its source."""
    check_encodable(body.question, "question")
    with service.slot(None):
        passages = index.search(body.question, k=body.k, mode=body.mode, where=body.where)
    return SearchOut(passages=passages)


@router.get(
    "/documents/{doc_id:path}", response_model=DocumentOut, summary="A stored document's text"
)
def document_route(
    doc_id: str,
    request: Request,
    index: Index = Depends(get_index),  # noqa: B008
) -> DocumentOut:
    """The text passages were cut from: a passage is ``text[start:end]`` exactly. A doc_id
    may hold "/" ("2024/03/article"), "?" or "#": the client percent-encodes it, and it is
    decoded once, from the raw path (some clients decode "%252e" twice)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and b"/documents/" in raw:
        doc_id = unquote(raw.decode("latin-1").split("/documents/", 1)[1])
    try:
        doc = index.document(doc_id)
    except KeyError:
        raise ApiError(
            404, f"no document {doc_id!r} in this index", "not_found_error", "doc_id"
        ) from None
    return DocumentOut(
        doc_id=doc.doc_id,
        source=doc.source,
        title=doc.title,
        text=doc.text,
        metadata=dict(doc.metadata),
    )

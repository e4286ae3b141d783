"""``POST /v1/embeddings/similarity`` (api.md §10): the cosine similarity of a text and a topic, with the
provider and caches ``semantic_match`` rules use, so rule authors can try thresholds."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.embedding_schemas import SimilarityBody
from tidegate.api.openapi import AUTH_ERRORS, BODY_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.rate_limits import limit_route
from tidegate.api.responses import json_response
from tidegate.api.validation import failed
from tidegate.errors import FeatureDisabled

__all__ = ["router"]

router = APIRouter(tags=["embeddings"])


@router.post(
    "/v1/embeddings/similarity",
    response_class=Response,
    summary="Cosine similarity of a text and a topic (5 requests per minute per caller)",
    responses=responses(
        {200: ("The similarity, in [-1, 1]", ref("SimilarityResult"))}, (*AUTH_ERRORS, *BODY_ERRORS, 404)
    ),
    openapi_extra={"security": PROTECTED, "requestBody": json_body(ref("SimilarityBody"))},
)
async def similarity(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """Checks after api.md §1.4: 404 ``feature_disabled``, then the fixed 429, then the computation (500
    ``embedding_failed`` when the provider fails, whatever ``fail_open`` says)."""
    body = validate(SimilarityBody, await read_json(request))
    limit = services.settings.embedding.max_input_chars
    if len(body.text) > limit:
        message = f"String should have at most {limit} characters"
        raise failed([{"loc": ["body", "text"], "msg": message, "type": "string_too_long"}])
    embedder = services.embedder
    if embedder is None:
        raise FeatureDisabled("embeddings are not configured (embedding.enabled is false)")
    await limit_route(request, services, caller)
    score = await embedder.similarity(body.text, body.topic)
    return json_response({"similarity": score, "topic": body.topic})

"""The operator area (issue 26): the pages under `/operator` and the JSON routes under
`/api/operator`, for the people who keep the collection. Off (every route 404) unless an operator
file exists (`assistant operator set-password`); the asking page stays open to everyone."""

from fastapi import APIRouter

from assistant.api.routers.operator import api, pages

router = APIRouter()
router.include_router(api.router)
router.include_router(pages.router)

__all__ = ["router"]

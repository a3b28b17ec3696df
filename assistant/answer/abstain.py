"""The abstention rule: when the collection does not seem to answer, say so and why."""

from __future__ import annotations

from assistant.answer.model import AbstainReason
from assistant.i18n import N_

ABSTAIN_NOT_MENTIONED = N_("the documents do not mention {terms}")
ABSTAIN_TOO_FAR = N_("no passage is close enough to the question")
ABSTAIN_NO_DOCUMENTS = N_("no document matches the filters")


def abstain_reason(evidence: float, unknown_terms: list[str], min_evidence: float) -> AbstainReason | None:
    """Why the corpus does not seem to answer, or None when it does.

    `evidence` is the fused score of the best passage (cosine similarity and saturated BM25, on
    an absolute scale); `unknown_terms` are places or years the question names that no document
    mentions."""
    if unknown_terms:
        return AbstainReason(ABSTAIN_NOT_MENTIONED, terms=", ".join(unknown_terms))
    if evidence < min_evidence:
        return AbstainReason(ABSTAIN_TOO_FAR)
    return None


def abstain_reason_no_documents() -> AbstainReason:
    """The reason given when the request's filters leave no document to answer from."""
    return AbstainReason(ABSTAIN_NO_DOCUMENTS)

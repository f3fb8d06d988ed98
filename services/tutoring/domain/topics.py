"""The course's Python topics, and how to tell which one a message or a program is about.

A topic slug ("loops", "dicts", ...) is what progress keys mastery by, so triage, the agents and the
exercise bank share this one vocabulary. Words in a message weigh more than constructs in the attached
code (a question about dictionaries that happens to contain a `for` loop is about dictionaries).

Some Python words are also everyday English ("for", "if", "type", "print"): they are weak, and one of
them alone does not make a message about Python ("what should I cook for dinner?"). A message is about
Python when its terms weigh at least VOCABULARY_THRESHOLD: one strong word, or two weak ones.
"""

from __future__ import annotations

import ast
import re

STRONG, WEAK = 2, 1
VOCABULARY_THRESHOLD = 2

# In precedence order: on a tie, the earlier (more specific) topic wins ("list comprehension" is about
# comprehensions, "recursive function" about recursion).
_TERMS: dict[str, tuple[tuple[str, int], ...]] = {
    "comprehensions": ((r"comprehensions?", STRONG), (r"generator expressions?", STRONG)),
    "recursion": ((r"recursi\w*|recursive(ly)?", STRONG), (r"base case", STRONG)),
    "exceptions": (
        (r"exceptions?|try[ /-]except|traceback|\w+Error", STRONG),
        (r"try|except|raise|finally", WEAK),
    ),
    "classes": (
        (r"class(es)?|__init__|inheritance|inherit\w*|subclass\w*|oop|object[- ]oriented", STRONG),
        (r"objects?|methods?|self|instances?|attributes?", WEAK),
    ),
    "files": ((r"files?|csv|with open|open\(\)", STRONG), (r"read(line)?s?|write|open", WEAK)),
    "modules": ((r"modules?|imports?|packages?|pip|librar(y|ies)", STRONG),),
    "dicts": ((r"dict(ionar(y|ies))?s?|key[- ]value", STRONG), (r"keys?|values|items|mapping", WEAK)),
    "lists": (
        (r"lists?|arrays?|tuples?|append|slic(e|es|ing)|indexes|indices", STRONG),
        (r"index|sort(ed|ing)?|elements?", WEAK),
    ),
    "strings": (
        (r"strings?|str|f-?strings?|substrings?|concatenat\w*|characters?", STRONG),
        (r"text|split|join|upper|lower|format\w*|letters?", WEAK),
    ),
    "loops": (
        (r"loops?|looping|for[- ]loops?|while[- ]loops?|iterat\w*|range\(?\)?", STRONG),
        (r"for|while|break|continue|repeat\w*", WEAK),
    ),
    "conditionals": (
        (r"if[- ]statements?|elif|if[- ]else|conditionals?|booleans?", STRONG),
        (r"if|else|conditions?|true|false|comparisons?", WEAK),
    ),
    "functions": (
        (r"functions?|def|parameters?|arguments?|lambdas?|return values?", STRONG),
        (r"return(s|ing)?|call(s|ing)?", WEAK),
    ),
    "variables": (
        (r"variables?|assignments?|integers?|floats?|data types?|int", STRONG),
        (r"types?|numbers?|input|print(ing)?|assign\w*", WEAK),
    ),
}
# Words that are about Python but no one topic: the language's own vocabulary beyond the course's
# topics (decorators, generators, yield...), its keywords and builtins that are not English words, and
# the standard library's best-known modules. A word missing here only matters offline: with a model,
# triage lets the model judge whatever the rules would call off-topic.
_GENERAL = re.compile(
    r"\b(python|code|coding|program(s|ming)?|syntax|interpreter|script|statements?|expressions?|"
    r"operators?|pythonic|debug\w*|indentation|none|"
    r"decorators?|generators?|iterators?|iterables?|yield(s|ing)?|closures?|coroutines?|async|await|"
    r"context[- ]managers?|type[- ]hints?|annotations?|dataclass(es)?|enums?|propert(y|ies)|staticmethods?|"
    r"classmethods?|metaclass(es)?|descriptors?|namespaces?|kwargs|\*args|unpacking|walrus|mutable|"
    r"immutable|hashable|frozensets?|bytearray|memoryview|nonlocal|elif|isinstance|issubclass|enumerate|"
    r"zip|len|repr|getattr|setattr|hasattr|divmod|ord|chr|dunder|docstrings?|pep ?8|pip|venv|virtualenv|"
    r"asyncio|itertools|functools|collections|namedtuples?|defaultdict|deque|pathlib|datetime|json|"
    r"regex|regular expressions?|unittest|pytest|typing|slots|gil|garbage collect\w*|shallow copy|"
    r"deep ?copy|__\w+__|\w+\(\))\b",
    re.IGNORECASE,
)
TOPICS: tuple[str, ...] = tuple(_TERMS)
_PATTERNS = {
    topic: tuple(
        (re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.IGNORECASE), weight) for pattern, weight in terms
    )
    for topic, terms in _TERMS.items()
}
_ERROR_TOPICS = {
    "KeyError": "dicts",
    "IndexError": "lists",
    "RecursionError": "recursion",
    "NameError": "variables",
    "UnboundLocalError": "functions",
    "FileNotFoundError": "files",
    "ModuleNotFoundError": "modules",
    "ImportError": "modules",
}


def term_weights(text: str) -> dict[str, int]:
    """Per topic, the weight of the Python terms `text` uses (each distinct word counted once)."""
    weights: dict[str, int] = {}
    seen: set[str] = set()
    for topic, patterns in _PATTERNS.items():
        for pattern, weight in patterns:
            for match in pattern.finditer(text):
                word = match.group(0).lower()
                if word in seen:
                    continue
                seen.add(word)
                weights[topic] = weights.get(topic, 0) + weight
    return weights


def python_terms(text: str) -> list[str]:
    """The Python words in `text`, in order of appearance (general ones such as "python" included)."""
    found: list[tuple[int, str]] = [(m.start(), m.group(0)) for m in _GENERAL.finditer(text)]
    for patterns in _PATTERNS.values():
        for pattern, _weight in patterns:
            found.extend((m.start(), m.group(0)) for m in pattern.finditer(text))
    ordered: list[str] = []
    for _start, word in sorted(found):
        if word.lower() not in (w.lower() for w in ordered):
            ordered.append(word)
    return ordered


def vocabulary_weight(text: str) -> int:
    general = STRONG * len({m.group(0).lower() for m in _GENERAL.finditer(text)})
    return general + sum(term_weights(text).values())


def code_topics(tree: ast.AST | None) -> dict[str, int]:
    """Per topic, 1 when the program uses one of its constructs."""
    if tree is None:
        return {}
    found: set[str] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == fn.name
            for n in ast.walk(fn)
        ):
            found.add("recursion")
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.While):
            found.add("loops")
        elif isinstance(node, ast.If | ast.IfExp):
            found.add("conditionals")
        elif isinstance(node, ast.FunctionDef | ast.Lambda | ast.Return):
            found.add("functions")
        elif isinstance(node, ast.ListComp | ast.DictComp | ast.SetComp | ast.GeneratorExp):
            found.add("comprehensions")
        elif isinstance(node, ast.ClassDef):
            found.add("classes")
        elif isinstance(node, ast.Try | ast.Raise):
            found.add("exceptions")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found.add("modules")
        elif isinstance(node, ast.Dict):
            found.add("dicts")
        elif isinstance(node, ast.List):
            found.add("lists")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            found.add("variables")
        elif isinstance(node, ast.JoinedStr):
            found.add("strings")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            found.add("files")
    return dict.fromkeys(found, 1)


def detect_topic(text: str, tree: ast.AST | None = None, exception_type: str = "") -> str:
    """The topic slug a message is about, "" when nothing points to one. Message words weigh twice as
    much as constructs in the code or the exception type."""
    scores: dict[str, int] = {topic: 2 * weight for topic, weight in term_weights(text).items()}
    for topic, weight in code_topics(tree).items():
        scores[topic] = scores.get(topic, 0) + weight
    if exception_type in _ERROR_TOPICS:
        topic = _ERROR_TOPICS[exception_type]
        scores[topic] = scores.get(topic, 0) + 1
    if not scores:
        return ""
    best = max(scores.values())
    return next(topic for topic in TOPICS if scores.get(topic) == best)

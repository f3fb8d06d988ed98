"""The concepts agent's offline brain: explanations grounded in the documentation that ships with the
interpreter — the language reference topics behind `help("for")` (`pydoc_data.topics`) and the
docstrings of the builtins (`help(len)`).

    explain(question, level) -> Explanation | None

The question is matched against a table of concepts (the longest matching phrase wins: "list
comprehension" beats "list"); None when no concept is recognised. Then

    look_up(question) -> Explanation | None

answers from the whole of the interpreter's documentation (docs.search: every pydoc topic, keyword,
builtin and standard-library docstring): the best passages, quoted verbatim and cited. None when
nothing in the documentation is close enough (the best document holds less than half the question's
idf weight, or scores below MIN_SCORE), and the tutor says honestly that it has nothing.
Each concept has our own plain-language words and a runnable example; the quotes come from the docs,
found at run time by an anchor phrase, so every quoted excerpt is a verbatim substring of the doc it
cites (Source.excerpt keeps the doc's own line breaks; the text shows it with whitespace collapsed).

How much is said depends on the student's mastery level of the topic (from progress):

    new, attempted     the plain explanation, the example, and the doc's opening sentence
    familiar           the same plus one detail worth knowing
    proficient,        the precise explanation, every edge case, the example, and longer quotes
    mastered           (the opening and the reference's finer points)

An unknown level is treated as "new". Excerpts are at most 600 characters.
"""

from __future__ import annotations

import builtins
import inspect
import re
import sys
from dataclasses import dataclass
from pydoc_data.topics import topics as _TOPICS

from services.tutoring.domain import docs
from services.tutoring.domain.source import cap, squash
from services.tutoring.domain.topics import detect_topic

LEVELS = ("new", "attempted", "familiar", "proficient", "mastered")
MAX_EXCERPT = 600
MIN_SCORE = 6.0  # a document's BM25 score (with its prior) below which it does not answer a question
MIN_COVERAGE = 0.5  # ... and the share of the question's idf weight it must hold
RELATIVE = 0.5  # a further passage is quoted when it scores at least this share of the best one


@dataclass(frozen=True)
class Source:
    title: str
    ref: str  # "pydoc:topics/for", "pydoc:builtins.len", "pydoc:sys.getrecursionlimit"
    excerpt: str = ""  # the quoted text, verbatim from the doc (doc_text(ref) contains it)


@dataclass(frozen=True)
class Explanation:
    concept: str
    text: str
    example: str  # a short runnable program
    sources: tuple[Source, ...]
    topic: str = ""  # the course topic slug, for progress


@dataclass(frozen=True)
class _Concept:
    name: str
    topic: str
    patterns: str  # a regex over the question
    ref: str
    anchor: str  # where the quote starts in the doc
    plain: str
    precise: str
    edges: tuple[str, ...]
    example: str
    deep: tuple[str, ...] = ()  # anchors of further quotes for proficient students
    also: tuple[tuple[str, str], ...] = ()  # (ref, anchor) of other docs worth citing


def doc_text(ref: str) -> str:
    """The documentation a Source cites: a pydoc topic or a builtin's (or sys function's) docstring."""
    if ref.startswith("pydoc:topics/"):
        return _TOPICS.get(ref.removeprefix("pydoc:topics/"), "")
    for prefix, module in (("pydoc:builtins.", builtins), ("pydoc:sys.", sys)):
        if ref.startswith(prefix):
            obj = getattr(module, ref.removeprefix(prefix), None)
            return (inspect.getdoc(obj) or "") if obj is not None else ""
    return docs.text(ref)  # the rest of the standard library: from the index


def doc_title(ref: str) -> str:
    if ref.startswith("pydoc:topics/"):
        return doc_text(ref).split("\n", 1)[0].strip() or ref
    name = ref.removeprefix("pydoc:")
    return f"help({name.removeprefix('builtins.')})"


def explain(question: str, level: str) -> Explanation | None:
    concept = match(question)
    if concept is None or _incidental(concept, question):
        return None
    tier = {"familiar": 1, "proficient": 2, "mastered": 2}.get(level.strip().lower(), 0)
    return _compose(concept, tier)


def look_up(question: str, limit: int = 3) -> Explanation | None:
    """The documentation's best passages on a question outside the concept map, quoted and cited; None
    when nothing is close enough. Builds the documentation index on first use (docs.index)."""
    hits = [h for h in docs.search(cap(question), limit) if h.excerpt]
    good = [h for h in hits if h.score >= MIN_SCORE and h.coverage >= MIN_COVERAGE]
    good = [h for h in good if h.score >= RELATIVE * good[0].score]  # not the best's distant seconds
    if not good:
        return None
    sources = tuple(Source(h.title, h.ref, h.excerpt) for h in good)
    quotes = "\n".join(f"> “{squash(h.excerpt)}” ({h.title}, `{_help(h.ref)}`)" for h in good)
    text = (
        "I don't have a ready-made lesson on this, but Python's own documentation covers it. "
        f"The closest passages:\n\n{quotes}\n\nYou can read more with "
        + ", ".join(f"`{_help(h.ref)}`" for h in good)
        + " in the Python interpreter."
    )
    return Explanation(good[0].title, text, "", sources, detect_topic(question))


def _incidental(concept: _Concept, question: str) -> bool:
    """Whether the concept matched only on a common English word ("and", "if", "not") while the
    question has other words to look up: "explain generators and yield" is not about `and`."""
    found = _compiled(concept).search(cap(question))
    if found is None or not docs.is_common(found.group(0)):
        return False
    return bool(set(docs.query_words(question)) - set(docs.words(found.group(0))))


def match(question: str) -> _Concept | None:
    """The concept a question is about: the longest matching phrase, then the earliest, then table order."""
    question = cap(question)
    best: tuple[int, int, int] | None = None
    chosen: _Concept | None = None
    for order, concept in enumerate(_CONCEPTS):
        for m in _compiled(concept).finditer(question):
            rank = (-(m.end() - m.start()), m.start(), order)
            if best is None or rank < best:
                best, chosen = rank, concept
    return chosen


def excerpt(doc: str, anchor: str, sentences: int = 1, limit: int = MAX_EXCERPT) -> str:
    """Whole sentences of `doc` starting at `anchor` (at the first prose paragraph when the anchor is
    missing, as it may be in another Python version), within one paragraph and at most `limit`
    characters. The anchor matches across the doc's line breaks. Always a substring of `doc`."""
    found_anchor = _find(doc, anchor)
    start = found_anchor if found_anchor >= 0 else _first_prose(doc)
    paragraph_end = doc.find("\n\n", start)
    stop = len(doc) if paragraph_end < 0 else paragraph_end
    end = start
    for _ in range(sentences):
        found = _SENTENCE_END.search(doc, end + 1, stop)
        if not found:
            end = stop
            break
        end = found.end()
    text = doc[start:end]
    if len(text) > limit:
        cut = text[:limit]
        sentence = max(cut.rfind(". "), cut.rfind(".\n"))
        text = cut[: sentence + 1] if sentence > 0 else cut[: cut.rfind(" ")] if " " in cut else cut
    return text.strip()


def _find(doc: str, anchor: str) -> int:
    if not anchor.split():
        return -1
    found = re.search(r"\s+".join(re.escape(word) for word in anchor.split()), doc)
    return found.start() if found else -1


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!etc)\.(?=\s)|:(?=\n)|\.$")
_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(concept: _Concept) -> re.Pattern[str]:
    if concept.name not in _PATTERN_CACHE:
        _PATTERN_CACHE[concept.name] = re.compile(
            rf"(?<![\w-])(?:{concept.patterns})(?![\w-])", re.IGNORECASE
        )
    return _PATTERN_CACHE[concept.name]


def _first_prose(doc: str) -> int:
    """Where the first paragraph of prose starts: after the title and its underline, skipping grammar."""
    position = 0
    for paragraph in re.split(r"(\n\s*\n)", doc):
        if (
            paragraph.strip()
            and "::=" not in paragraph
            and not paragraph.startswith(" ")
            and not re.search(r"^[*=]{3,}$", paragraph, re.MULTILINE)
        ):
            return position
        position += len(paragraph)
    return 0


def _compose(concept: _Concept, tier: int) -> Explanation:
    doc = doc_text(concept.ref)
    title = doc_title(concept.ref)
    sources = [Source(title, concept.ref, excerpt(doc, concept.anchor, 1 if tier < 2 else 2))]
    if tier == 2:
        sources += [Source(title, concept.ref, excerpt(doc, anchor, 2)) for anchor in concept.deep]
        sources += [
            Source(doc_title(ref), ref, excerpt(doc_text(ref), anchor, 2)) for ref, anchor in concept.also
        ]
    elif concept.also:
        ref = concept.also[0][0]
        sources.append(Source(doc_title(ref), ref, ""))  # cited for further reading, not quoted
    sources = [s for s in sources if not s.excerpt or s.excerpt in doc_text(s.ref)]
    parts = [concept.precise if tier == 2 else concept.plain]
    if tier == 1 and concept.edges:
        parts.append(f"Worth knowing: {concept.edges[0]}")
    if tier == 2 and concept.edges:
        parts.append("Details and edge cases:\n" + "\n".join(f"- {edge}" for edge in concept.edges))
    parts.append(f"For example:\n```python\n{concept.example.rstrip()}\n```")
    quotes = [s for s in sources if s.excerpt]
    if quotes:
        lead = "From the Python documentation" if tier < 2 else "The Python reference says"
        parts.append(
            lead + ":\n" + "\n".join(f"> “{squash(s.excerpt)}” ({s.title}, `{_help(s.ref)}`)" for s in quotes)
        )
    return Explanation(concept.name, "\n\n".join(parts), concept.example, tuple(sources), concept.topic)


def _help(ref: str) -> str:
    if ref.startswith("pydoc:topics/"):
        return f'help("{ref.removeprefix("pydoc:topics/")}")'
    name = ref.removeprefix("pydoc:")
    if name.startswith("builtins."):
        return f"help({name.removeprefix('builtins.')})"
    return f'help("{name}")'  # a module's name is not bound in the interpreter: help("functools.wraps")


_CONCEPTS: tuple[_Concept, ...] = (
    _Concept(
        "for loop",
        "loops",
        r"for[- ]loops?|for statements?|iterat\w+|loop(ing)? (over|through)",
        "pydoc:topics/for",
        'The "for" statement is used to iterate',
        "A `for` loop repeats a block of code once for each item in a collection — each character of a "
        "string, each item of a list, each number of a `range()`. The loop variable takes the next item "
        "on every pass, and the loop stops by itself when the items run out.",
        "`for target in iterable:` evaluates the iterable once, creates an iterator, and assigns each item "
        "it produces to the target before running the body. It ends when the iterator is exhausted, or "
        "early with `break`; `continue` skips to the next item.",
        (
            "an `else:` block after a `for` loop runs only when the loop was not ended by `break`.",
            "the loop variable keeps its last value after the loop (and is never set if the iterable is "
            "empty).",
            "assigning to the loop variable inside the body does not change which item comes next.",
            "changing a list while looping over it skips or repeats items: loop over a copy (`for x in "
            "xs[:]`).",
        ),
        'for fruit in ["apple", "banana", "cherry"]:\n    print(fruit.upper())\n\nfor i in range(3):\n'
        '    print("pass", i)\n',
        deep=('A "break" statement executed in the first suite', "Names in the target list are not deleted"),
    ),
    _Concept(
        "while loop",
        "loops",
        r"while[- ]loops?|while statements?|\bwhile\b",
        "pydoc:topics/while",
        'The "while" statement is used for repeated execution',
        "A `while` loop repeats its block as long as its condition is true. Python checks the condition "
        "before every pass, so something inside the loop must eventually make it false — otherwise the "
        "loop never ends.",
        "`while condition:` re-evaluates the condition before each pass and runs the body while it is "
        "truthy. `break` leaves the loop at once; `continue` jumps back to the test.",
        (
            "the condition is tested before the first pass too, so the body may run zero times.",
            "an `else:` block runs when the condition becomes false, but not after a `break`.",
            "`while True:` is a common pattern for 'repeat until' loops — it needs a `break` inside.",
        ),
        'count = 3\nwhile count > 0:\n    print(count)\n    count -= 1\nprint("liftoff!")\n',
        deep=("This repeatedly tests the expression", 'A "break" statement executed in the first suite'),
    ),
    _Concept(
        "loops",
        "loops",
        r"loops?|looping|repeat\w*",
        "pydoc:topics/for",
        'The "for" statement is used to iterate',
        "A loop repeats a block of code. Python has two: `for` repeats once for each item of a "
        "collection (or each number of a `range()`), and `while` repeats as long as a condition stays "
        "true.",
        "`for` iterates over any iterable until it is exhausted; `while` re-tests a condition before each "
        "pass. Both support `break`, `continue` and an `else:` clause that runs when the loop was not "
        "broken out of.",
        (
            "use `for` when you know what to go through, `while` when you only know when to stop.",
            "a `while` loop needs its condition to become false eventually, or a `break`.",
        ),
        "for n in range(1, 4):\n    print(n * n)\n\nn = 1\nwhile n < 20:\n    n *= 2\nprint(n)\n",
        also=(("pydoc:topics/while", 'The "while" statement is used for repeated execution'),),
    ),
    _Concept(
        "break and continue",
        "loops",
        r"break|continue",
        "pydoc:topics/break",
        "It terminates the nearest enclosing loop",
        "`break` stops a loop immediately and carries on after it; `continue` skips the rest of the "
        "current pass and goes straight to the next one.",
        "`break` terminates the innermost enclosing `for` or `while` loop (skipping its `else:`); "
        "`continue` proceeds with the next cycle of the innermost loop.",
        (
            "in nested loops, `break` only leaves the innermost loop.",
            "after `break` in a `for` loop, the loop variable keeps the value it had.",
        ),
        "for n in [3, 8, -1, 5]:\n    if n < 0:\n        break\n    if n % 2 == 0:\n        continue\n    "
        "print(n)\n",
        deep=('If a "for" loop is terminated by "break"',),
        also=(("pydoc:topics/continue", '"continue" may only occur syntactically nested'),),
    ),
    _Concept(
        "if statement",
        "conditionals",
        r"if[- ]statements?|if[- ]else|elif|else|conditionals?|conditions?|\bif\b",
        "pydoc:topics/if",
        'The "if" statement is used for conditional execution',
        "An `if` statement runs a block of code only when its condition is true. You can add `elif` "
        "branches to test more conditions in order, and an `else` branch for when none of them is true — "
        "exactly one branch runs.",
        "`if`/`elif`/`else` evaluates the conditions in order and runs the suite of the first one that is "
        "true; if none is, the `else` suite runs (if present). Conditions use truthiness, not just "
        "`True`/`False`.",
        (
            "only the first true branch runs, even if later conditions are also true.",
            "empty strings, empty lists, `0` and `None` count as false in a condition.",
            "`if x = 5:` is a syntax error: comparison needs `==`.",
        ),
        'temperature = 18\nif temperature > 25:\n    print("hot")\nelif temperature > 15:\n'
        '    print("mild")\nelse:\n    print("cold")\n',
        deep=("It selects exactly one of the suites",),
        also=(("pydoc:topics/truth", "Any object can be tested for truth value"),),
    ),
    _Concept(
        "booleans and logic",
        "conditionals",
        r"booleans?|\band\b|\bor\b|\bnot\b|true|false|truth\w*|truthy|falsy",
        "pydoc:topics/booleans",
        "In the context of Boolean operations",
        "`True` and `False` are Python's two truth values. `and` is true when both sides are, `or` when at "
        "least one is, and `not` flips a value. Conditions can also use other values: `0`, empty text "
        "and empty lists count as false.",
        "`and`/`or` short-circuit and return one of their operands (not necessarily a bool); `not` always "
        "returns a bool. False values are `False`, `None`, numeric zero and empty containers; everything "
        "else is true unless its class says otherwise.",
        (
            '`x and y` returns `x` if it is false, otherwise `y` — so `"" or "default"` gives `"default"`.',
            "`and` binds tighter than `or`: use brackets when you mix them.",
        ),
        'age = 15\nhas_ticket = True\nprint(age >= 12 and has_ticket)\nprint(not has_ticket)\nname = ""\n'
        'print(name or "anonymous")\n',
        deep=('The expression "x and y" first evaluates', 'Note that neither "and" nor "or" restrict'),
    ),
    _Concept(
        "comparisons",
        "conditionals",
        r"comparisons?|compar\w+|==|!=|\bis\b (vs|versus|and) ==|equality",
        "pydoc:topics/comparisons",
        "Comparisons yield boolean values",
        "Comparison operators (`==`, `!=`, `<`, `>`, `<=`, `>=`) compare two values and give `True` or "
        "`False`. `==` asks whether two values are equal; a single `=` is assignment, not comparison.",
        "Comparisons all share one priority and can be chained (`a < b < c` means `a < b and b < c`). "
        "`==` compares values, `is` compares identity — use `is` only for `None`.",
        (
            "`1 < x < 10` is a chained comparison, evaluated as `1 < x and x < 10`.",
            "comparing a string with a number using `<` raises TypeError; `==` just gives False.",
        ),
        'x = 7\nprint(x == 7, x != 7)\nprint(1 < x < 10)\nprint("apple" < "banana")\n',
        deep=("Comparisons can be chained arbitrarily",),
    ),
    _Concept(
        "functions",
        "functions",
        r"functions?|\bdef\b|parameters?|arguments?|define a function",
        "pydoc:topics/function",
        "The function definition does not execute the function body",
        "A function is a named, reusable block of code. You define it once with `def`, giving it "
        "parameters (its inputs), and then call it as often as you like with different arguments; "
        "`return` sends a result back to the caller.",
        "`def` is an executable statement that binds the name to a function object; the body runs only "
        "when the function is called. Parameters may have default values, evaluated once when the `def` "
        "runs.",
        (
            "a function without `return` (or with a bare `return`) gives back `None`.",
            "default values are evaluated once, so a mutable default such as `[]` is shared between calls.",
            "variables assigned inside a function are local to it.",
        ),
        'def greet(name, greeting="Hello"):\n    return f"{greeting}, {name}!"\n\nprint(greet("Ada"))\n'
        'print(greet("Alan", "Hi"))\n',
        deep=("A function definition is an executable statement", "Default parameter values are evaluated"),
    ),
    _Concept(
        "return",
        "functions",
        r"return(s|ing)?( values?| statements?)?",
        "pydoc:topics/return",
        '"return" leaves the current function call',
        "`return` ends a function and hands a value back to the code that called it, so you can store "
        "it in a variable or use it in an expression. Printing a value shows it; returning it lets the "
        "program keep using it.",
        "`return expr` evaluates the expression and leaves the current call with it as the result; "
        "without an expression (or without any `return`) the result is `None`.",
        (
            "any code after a `return` in the same block never runs.",
            "`return a, b` returns a tuple.",
        ),
        "def area(width, height):\n    return width * height\n\nresult = area(3, 4)\nprint(result + 1)\n",
        deep=(
            "If an expression list is present, it is evaluated",
            'When "return" passes control out of a "try"',
        ),
    ),
    _Concept(
        "lambda",
        "functions",
        r"lambdas?( functions?| expressions?)?|anonymous functions?",
        "pydoc:topics/lambda",
        "Lambda expressions (sometimes called lambda forms)",
        "A `lambda` is a small function written in one expression, without a name — handy where a "
        "function is needed only once, such as the `key` of `sorted()`.",
        "`lambda params: expression` creates a function object equivalent to a `def` returning that "
        "expression; it cannot contain statements or annotations.",
        (
            "a lambda can't contain statements such as `if` blocks or loops (a conditional expression is "
            "fine).",
        ),
        'words = ["banana", "kiwi", "apple"]\nprint(sorted(words, key=lambda w: len(w)))\n',
        deep=("See section Function definitions for the syntax",),
    ),
    _Concept(
        "lists",
        "lists",
        r"lists?|arrays?|append\w*",
        "pydoc:topics/typesseq",
        "Lists are mutable sequences",
        "A list holds several values in order, inside square brackets: `[3, 1, 2]`. You can read an item "
        "by its position (starting at 0), change items, and add or remove them — lists are mutable.",
        "`list` is a mutable sequence: it supports indexing, slicing, `len()`, `in`, concatenation, and "
        "in-place methods (`append`, `extend`, `insert`, `remove`, `pop`, `sort`, `reverse`).",
        (
            "methods that change a list in place, such as `sort()` and `append()`, return `None`.",
            "`b = a` does not copy a list: both names refer to the same list (use `a.copy()`).",
            "negative indexes count from the end: `xs[-1]` is the last item.",
        ),
        "scores = [70, 85, 90]\nscores.append(100)\nprint(scores[0], scores[-1], "
        "len(scores))\nscores.sort(reverse=True)\nprint(scores)\n",
        also=(
            (
                "pydoc:topics/typesseq-mutable",
                "The operations in the following table are defined on mutable sequence",
            ),
            ("pydoc:builtins.list", "Built-in mutable sequence"),
        ),
    ),
    _Concept(
        "list comprehension",
        "comprehensions",
        r"(list |dict(ionary)? |set )?comprehensions?",
        "pydoc:topics/lists",
        "A list display yields a new list object",
        "A list comprehension builds a new list from another collection in one line: "
        "`[expression for item in collection if condition]` — 'for each item (that passes the test), "
        "put this expression in the new list'.",
        "A comprehension evaluates its expression for each item produced by its `for` clauses, filtered "
        "by optional `if` clauses, and collects the results into a new list; it has its own scope, so the "
        "loop variable doesn't leak out.",
        (
            "the `if` at the end filters items; an `x if c else y` at the start chooses a value for each.",
            "prefer a regular loop when the logic needs several statements.",
        ),
        "numbers = [1, 2, 3, 4, 5, 6]\nsquares_of_evens = [n * n for n in numbers if n % 2 == "
        "0]\nprint(squares_of_evens)\n",
        deep=("When a comprehension is supplied",),
    ),
    _Concept(
        "tuples",
        "lists",
        r"tuples?|immutable",
        "pydoc:topics/typesseq",
        "Tuples are immutable sequences",
        "A tuple is like a list that can't be changed: an ordered group of values in round brackets, "
        "`(3, 4)`. Use it for values that belong together and shouldn't change, like coordinates; use a "
        "list when you need to add, remove or change items.",
        "`tuple` is an immutable sequence: indexing, slicing and iteration work as for lists, but there "
        "is no item assignment or in-place method. Tuples of hashable items can be dict keys.",
        (
            "a one-item tuple needs a trailing comma: `(5,)`.",
            "`a, b = b, a` swaps two variables by packing and unpacking a tuple.",
        ),
        "point = (3, 4)\nx, y = point\nprint(x + y, len(point))\n",
        also=(("pydoc:builtins.tuple", "Built-in immutable sequence"),),
    ),
    _Concept(
        "dictionaries",
        "dicts",
        r"dict(ionar(y|ies))?s?|key[- ]value|keys?",
        "pydoc:topics/typesmapping",
        "A *mapping* object maps *hashable* values",
        "A dictionary stores pairs of keys and values, like words and their definitions: "
        '`{"apple": 3, "pear": 5}`. You look a value up by its key (`stock["apple"]`), and add or change '
        "an entry by assigning to a key.",
        "`dict` maps hashable keys to values with average O(1) lookup; it keeps insertion order. `d[k]` "
        "raises KeyError for a missing key, while `d.get(k, default)` returns a default; `keys()`, "
        "`values()` and `items()` are live views.",
        (
            "looking up a missing key with `[]` raises KeyError; use `in` or `.get()` first.",
            "keys must be immutable (hashable): strings, numbers and tuples work, lists don't.",
            "don't add or remove keys while looping over the same dictionary.",
        ),
        'stock = {"apple": 3, "pear": 5}\nstock["kiwi"] = 7\n'
        'print(stock["apple"], stock.get("plum", 0))\nfor fruit, count in stock.items():\n'
        "    print(fruit, count)\n",
        deep=(
            "A dictionary\u2019s keys are *almost* arbitrary values",
            'The objects returned by "dict.keys()"',
        ),
    ),
    _Concept(
        "strings",
        "strings",
        r"strings?|\bstr\b|text|characters?|string methods?",
        "pydoc:topics/string-methods",
        "Strings implement all of the common sequence operations",
        'A string is a piece of text in quotes: `"hello"`. It is a sequence of characters, so you can '
        "get its length, read characters by position, slice it, and use methods such as `.upper()`, "
        "`.split()` and `.replace()`.",
        "`str` is an immutable sequence of Unicode code points; every method (`upper`, `split`, "
        "`replace`, `strip`, ...) returns a new string. Formatting uses f-strings or `str.format()`.",
        (
            "strings are immutable: `s.upper()` returns a new string and leaves `s` unchanged.",
            "`+` joins strings only with strings: convert numbers with `str()` or use an f-string.",
        ),
        'word = "Python"\nprint(len(word), word[0], word[-1], word[1:4])\n'
        'print(word.upper(), word.replace("P", "J"))\n',
        deep=("Strings also support two styles of string formatting",),
        also=(("pydoc:builtins.str", "Create a new string object from the given object"),),
    ),
    _Concept(
        "f-strings",
        "strings",
        r"f-?strings?|formatted strings?|string formatting|format\w*",
        "pydoc:topics/strings",
        "A string literal with \"'f'\" or \"'F'\" in its prefix",
        "An f-string is text with an `f` before the quotes, where anything in `{curly braces}` is replaced "
        'by its value: `f"Hello, {name}!"`. It is the easiest way to mix text and numbers.',
        "A formatted string literal evaluates the expressions in its replacement fields at run time and "
        "formats them with `format()`; a format spec after `:` controls width, precision and alignment.",
        ("`{price:.2f}` shows a number with two decimals; `{{` and `}}` give literal braces.",),
        'name = "Ada"\nscore = 9.5\nprint(f"{name} scored {score:.1f} points")\n',
        also=(("pydoc:topics/formatstrings", "Format strings contain “replacement fields”"),),
    ),
    _Concept(
        "slicing",
        "lists",
        r"slic(e|es|ing)|substrings?",
        "pydoc:topics/slicings",
        "A slicing selects a range of items in a sequence object",
        "Slicing takes part of a sequence: `word[1:4]` gives the items from position 1 up to, but not "
        "including, position 4. Leave out a number to go from the start or to the end; a third number "
        "is the step.",
        "`s[i:j:k]` selects items from index i (inclusive) to j (exclusive) in steps of k; omitted bounds "
        "default to the ends, negative indexes count from the end, and out-of-range bounds are clipped, "
        "never an error.",
        (
            "`s[::-1]` is the sequence reversed.",
            "a slice makes a new (shallow) copy; `xs[:]` copies a whole list.",
        ),
        'letters = "abcdefg"\nprint(letters[1:4], letters[:3], letters[4:], letters[::-1])\n',
    ),
    _Concept(
        "indexing",
        "lists",
        r"index(es|ing)?|indices|subscript\w*|out of range",
        "pydoc:topics/subscriptions",
        "The subscription of an instance of a container class",
        "Square brackets after a sequence pick one item by its position (its index). Positions start at "
        "0, so the last item of a list of 5 items is at index 4 — or at `-1`, counting from the end.",
        "Subscription on a sequence takes an integer (or a slice); negative indexes are interpreted "
        "relative to the end, and an index outside `-len(s) <= i < len(s)` raises IndexError.",
        ("`xs[len(xs)]` is always one past the end: the last valid index is `len(xs) - 1`.",),
        'colours = ["red", "green", "blue"]\nprint(colours[0], colours[2], colours[-1])\n',
        deep=("The formal syntax makes no special provision for negative indices",),
    ),
    _Concept(
        "exceptions and try/except",
        "exceptions",
        r"exceptions?|try[ /-]?except|\btry\b|\bexcept\b|error handling|handle errors?|finally",
        "pydoc:topics/exceptions",
        "Exceptions are a means of breaking out of the normal flow",
        "When something goes wrong while a program runs, Python raises an exception (like ValueError or "
        "ZeroDivisionError) and stops — unless you handle it. Put the risky code in a `try:` block and "
        "say what to do instead in an `except` block.",
        "An exception unwinds the stack until a matching `except` clause handles it; `else:` runs when "
        "the `try` block raised nothing, and `finally:` always runs. Catch the specific exception types "
        "you expect, not everything.",
        (
            "a bare `except:` also catches mistakes you didn't expect (and even Ctrl-C): name the exception.",
            "`except ValueError as e:` gives you the exception object, e.g. to print its message.",
        ),
        'for text in ["42", "forty-two"]:\n    try:\n        print(int(text) + 1)\n'
        '    except ValueError:\n        print(f"{text!r} is not a whole number")\n',
        deep=("The Python interpreter raises an exception when it detects a run-time error",),
        also=(("pydoc:topics/try", 'The "except" clause(s) specify one or more exception handlers'),),
    ),
    _Concept(
        "raise",
        "exceptions",
        r"raise|raising|throw",
        "pydoc:topics/raise",
        'Otherwise, "raise" evaluates the first expression as the exception object',
        '`raise` signals an error yourself: `raise ValueError("age can\'t be negative")` stops the normal '
        "flow, just like Python's own errors, so the caller can handle it with `try`/`except`.",
        "`raise` instantiates (if needed) and raises an exception; `raise ... from ...` chains it to a "
        "cause, and a bare `raise` inside `except` re-raises the active exception.",
        ("a bare `raise` inside an `except` block re-raises the exception being handled.",),
        'def set_age(age):\n    if age < 0:\n        raise ValueError("age can\'t be negative")\n'
        '    return age\n\ntry:\n    set_age(-1)\nexcept ValueError as e:\n    print("error:", e)\n',
        deep=('The "from" clause is used for exception chaining',),
    ),
    _Concept(
        "classes",
        "classes",
        r"class(es)?|objects?|oop|object[- ]oriented|__init__|methods?|self|instances?|inherit\w*",
        "pydoc:topics/class",
        "A class definition defines a class object",
        "A class is a blueprint for making objects that bundle data (attributes) with the functions that "
        "work on it (methods). `__init__` sets up each new object, and `self` is the object a method is "
        "working on.",
        "A `class` statement executes its body in a new namespace and binds the resulting class object; "
        "calling the class creates an instance and runs `__init__`; methods receive the instance as "
        "their first argument (`self`).",
        (
            "attributes set on `self` belong to one object; variables in the class body are shared by all.",
            "forgetting `self` as a method's first parameter gives a TypeError when you call it.",
        ),
        "class Dog:\n    def __init__(self, name):\n        self.name = name\n\n    def speak(self):\n"
        '        return f"{self.name} says woof"\n\nprint(Dog("Rex").speak())\n',
        deep=("A class definition is an executable statement",),
    ),
    _Concept(
        "files and with",
        "files",
        r"files?|\bwith\b( statements?)?|open\(?\)?|context managers?|read(ing)? (a )?file",
        "pydoc:topics/with",
        'The "with" statement is used to wrap the execution of a block',
        "To use a file, open it with `open()` inside a `with` block: Python closes the file for you when "
        'the block ends, even if an error happens. Mode `"w"` writes (replacing the file), `"a"` appends, '
        'and the default `"r"` reads.',
        "`with` calls the context manager's `__enter__` on entry and guarantees `__exit__` on the way out, "
        "even on exceptions; for files this means they are always closed. Text files yield lines with "
        "their trailing newline.",
        (
            'opening with `"w"` empties the file first; use `"a"` to add to the end.',
            "each line read from a file ends with `\\n`: use `.strip()` before comparing it.",
        ),
        'with open("notes.txt", "w") as f:\n    f.write("first\\nsecond\\n")\n\n'
        'with open("notes.txt") as f:\n    for line in f:\n        print(line.strip())\n',
        also=(("pydoc:builtins.open", "Open file and return a stream"),),
    ),
    _Concept(
        "import and modules",
        "modules",
        r"imports?|modules?|packages?|librar(y|ies)",
        "pydoc:topics/import",
        "The basic import statement",
        "`import` brings in code from a module — a file of Python code, like the standard library's "
        "`math` or `random` — so you can use its functions: `math.sqrt(16)`. `from math import sqrt` "
        "imports just one name.",
        "`import m` finds, loads and initialises the module once (cached in `sys.modules`) and binds the "
        "name in the current namespace; `from m import x` binds only `x`.",
        (
            "a module is run only once, however many times it is imported.",
            "naming your own file `random.py` hides the standard `random` module.",
        ),
        "import math\nfrom random import Random\n\nprint(math.sqrt(16))\nprint(Random(42).randint(1, 6))\n",
        deep=("If the requested module is retrieved successfully",),
    ),
    _Concept(
        "None",
        "variables",
        r"none|null",
        "pydoc:topics/bltin-null-object",
        "This object is returned by functions that don\u2019t explicitly return a value",
        "`None` is Python's 'no value here'. A function that doesn't `return` anything gives back `None`, "
        "and `None` is often used as a placeholder before a real value exists.",
        "`None` is the single instance of `NoneType`; test for it with `is None`. It is falsy and supports "
        "no operations, hence errors like `'NoneType' object has no attribute ...`.",
        ("methods like `list.sort()` return `None`, so `x = x.sort()` leaves `x` as None.",),
        'def say_hi():\n    print("hi")\n\nresult = say_hi()\nprint(result is None)\n',
    ),
    _Concept(
        "variables and assignment",
        "variables",
        r"variables?|assign\w*",
        "pydoc:topics/assignment",
        "Assignment statements are used to (re)bind names to values",
        "A variable is a name for a value. `x = 5` stores 5 under the name `x`; using `x` later gives "
        "back 5, and assigning again replaces the value. The name goes on the left, the value on the right.",
        "Assignment binds names to objects; it never copies. Several targets can be assigned at once "
        "(`a, b = 1, 2`), and augmented assignment (`x += 1`) rebinds the name to the new result.",
        (
            "`a = b` makes both names refer to the same object: with a list, a change through one shows in "
            "both.",
            "a variable must be assigned before it is used, or Python raises NameError.",
        ),
        "score = 10\nscore = score + 5\nscore += 1\nwidth, height = 3, 4\nprint(score, width * height)\n",
        deep=("An assignment statement evaluates the expression list",),
    ),
    _Concept(
        "range",
        "loops",
        r"range",
        "pydoc:topics/typesseq",
        'The "range" type represents an immutable sequence of numbers',
        "`range()` gives a sequence of whole numbers to loop over: `range(5)` is 0, 1, 2, 3, 4 — it "
        "starts at 0 and stops before the number you give. `range(2, 10, 2)` counts from 2 to 8 in steps "
        "of 2.",
        "`range(start, stop, step)` is an immutable, lazy sequence: the stop is exclusive, the step may "
        "be negative, and it supports `len()`, indexing and `in` without building a list.",
        ("`range(len(xs))` gives every valid index of `xs`; `range(len(xs) + 1)` goes one too far.",),
        "for i in range(3):\n    print(i)\nprint(list(range(10, 0, -3)))\n",
        also=(("pydoc:builtins.range", "Return an object that produces a sequence of integers"),),
    ),
    _Concept(
        "len",
        "variables",
        r"len\(?\)?|length",
        "pydoc:builtins.len",
        "Return the number of items in a container",
        "`len()` tells you how many items something holds: characters in a string, items in a list, "
        "keys in a dictionary.",
        "`len(x)` calls `x.__len__()`; it works on any container (sequence or collection) and raises "
        "TypeError for values without a length, such as numbers.",
        ("the last index of a sequence is `len(s) - 1`.",),
        'print(len("hello"), len([1, 2, 3]), len({"a": 1}))\n',
    ),
    _Concept(
        "print",
        "variables",
        r"print\(?\)?|printing",
        "pydoc:builtins.print",
        "Prints the values to a stream",
        "`print()` shows values on the screen. Give it several values separated by commas and it puts a "
        "space between them and a new line at the end; `sep=` and `end=` change those.",
        "`print(*values, sep=' ', end='\\n', file=sys.stdout, flush=False)` converts each value with "
        "`str()` and writes them separated by `sep` and followed by `end`.",
        ('`print("a", "b", sep="-")` prints `a-b`; `end=""` stays on the same line.',),
        'print("Total:", 3 + 4)\nprint("a", "b", "c", sep="-")\nprint("no newline", end="")\nprint()\n',
    ),
    _Concept(
        "input",
        "variables",
        r"input\(?\)?|user input|read(ing)? input",
        "pydoc:builtins.input",
        "Read a string from standard input",
        "`input()` waits for the user to type a line and gives it back as a string — always a string, "
        "even if they type digits, so convert it with `int()` or `float()` to do arithmetic.",
        "`input(prompt)` writes the prompt without a newline, reads one line from standard input and "
        "returns it without the trailing newline; at end of input it raises EOFError.",
        ('`age = int(input("Age? "))` converts the answer to a number straight away.',),
        'answer = "42"  # in a real program: answer = input("Pick a number: ")\nprint(int(answer) + 1)\n',
    ),
    _Concept(
        "enumerate",
        "loops",
        r"enumerate\(?\)?",
        "pydoc:builtins.enumerate",
        "The enumerate object yields pairs containing a count",
        "`enumerate()` lets a `for` loop give you each item together with its position, so you don't "
        "need `range(len(...))`.",
        "`enumerate(iterable, start=0)` lazily yields `(count, item)` tuples, counting from `start`.",
        ("`enumerate(xs, start=1)` numbers the items from 1.",),
        'for position, name in enumerate(["Ada", "Alan", "Grace"], start=1):\n    print(position, name)\n',
    ),
    _Concept(
        "recursion",
        "recursion",
        r"recursi\w*|recursive(ly)?|base case",
        "pydoc:sys.getrecursionlimit",
        "The recursion limit is the maximum depth",
        "A recursive function solves a problem by calling itself on a smaller version of it. It needs a "
        "base case — a simplest input it answers directly without calling itself — or the calls never stop.",
        "Each recursive call adds a frame to the call stack; CPython limits the depth (about 1000 frames "
        "by default) and raises RecursionError beyond it. Every call must move toward a base case.",
        (
            "a missing or unreachable base case ends in RecursionError.",
            "deep recursion on big inputs can hit the limit even when correct: a loop may be better there.",
        ),
        'def countdown(n):\n    if n == 0:\n        print("liftoff!")\n        return\n    print(n)\n'
        "    countdown(n - 1)\n\ncountdown(3)\n",
        also=(("pydoc:topics/function", "The function definition does not execute the function body"),),
    ),
    _Concept(
        "global variables",
        "functions",
        r"global( variables?)?|scope",
        "pydoc:topics/global",
        'The "global" statement is a declaration',
        "Variables assigned inside a function are local to that function. To change a variable defined "
        "outside it, you would need `global` — but it is usually clearer to pass values in as arguments "
        "and `return` the result.",
        "`global name` makes assignments in the current code block bind the module-level name; reading a "
        "global needs no declaration, only assigning does.",
        ("assigning to a name anywhere in a function makes it local everywhere in that function.",),
        "counter = 0\n\ndef add_one(value):\n    return value + 1\n\ncounter = "
        "add_one(counter)\nprint(counter)\n",
    ),
    _Concept(
        "membership with in",
        "conditionals",
        r"\bin\b (operator|keyword)|membership|not in",
        "pydoc:topics/in",
        'The operators "in" and "not in" test for membership',
        "`in` checks whether something is inside a collection: an item in a list, a key in a dictionary, "
        "or a piece of text inside a string. It gives `True` or `False`.",
        "`x in s` tests membership: equality against items for sequences and sets, keys for dicts, and "
        "substrings for strings; `not in` is its negation.",
        ("for a dictionary, `in` checks the keys, not the values.",),
        'print("a" in "cat", 3 in [1, 2, 3], "x" in {"x": 1}, "z" not in "cat")\n',
        deep=('For the string and bytes types, "x in y" is "True"',),
    ),
    _Concept(
        "division and remainder",
        "variables",
        r"division|divide|modulo|remainder|floor division|//|%",
        "pydoc:topics/binary",
        'The "/" (division) and "//" (floor division) operators',
        "`/` divides and always gives a decimal number (`7 / 2` is `3.5`); `//` divides and rounds down "
        "to a whole number (`7 // 2` is `3`); `%` gives the remainder (`7 % 2` is `1`).",
        "`/` is true division (float result), `//` floor division (rounds toward minus infinity), `%` "
        "the matching remainder with the sign of the divisor; all raise ZeroDivisionError for a zero "
        "divisor.",
        ("`-7 // 2` is `-4` (rounded down, not toward zero).", "`n % 2 == 0` tests whether n is even."),
        "print(7 / 2, 7 // 2, 7 % 2)\nprint(-7 // 2)\n",
        deep=('The "%" (modulo) operator yields the remainder',),
    ),
)

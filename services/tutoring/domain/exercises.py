"""A bank of exercise templates: for each topic and difficulty, one exercise with parameters, so any
`variation` (an int >= 0) gives a different but equivalent exercise — other numbers, words or target —
for a student who needs "another one like that".

    topics() -> list[str]
    generate(topic, difficulty, variation) -> GeneratedExercise

Cases are stdin -> stdout (the sandbox's `stdio` cases, trailing whitespace ignored): the program reads
its input with input() and prints. The first two cases are visible, the rest hidden (edge cases among
them). Expected outputs are computed here, in Python, by a solver written independently of the reference
solution's text; a unit test runs every reference solution against its own cases, and the sandbox
validates again when the exercise is stored.

Determinism: the parameters come from `variation` itself (the main one cycles through a list, so
consecutive variations differ), and test inputs from random.Random seeded with the template id and the
variation — the same call always gives the same exercise.
"""

from __future__ import annotations

import enum
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Difficulty(enum.StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


@dataclass(frozen=True)
class Case:
    name: str
    stdin: str
    expected_stdout: str
    hidden: bool


@dataclass(frozen=True)
class GeneratedExercise:
    template_id: str
    variation: int
    topic: str
    difficulty: Difficulty
    title: str
    prompt: str
    starter_code: str
    reference_solution: str
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class _Spec:
    """What a template builds for one variation; `inputs` are (name, stdin), the first two visible."""

    title: str
    prompt: str
    starter_code: str
    solution: str
    inputs: list[tuple[str, str]]
    solve: Callable[[list[str]], list[str]]  # input lines -> output lines


VISIBLE_CASES = 2
_Builder = Callable[[random.Random, int], _Spec]
_TEMPLATES: dict[tuple[str, Difficulty], tuple[str, _Builder]] = {}


def topics() -> list[str]:
    return sorted({topic for topic, _difficulty in _TEMPLATES})


def generate(topic: str, difficulty: Difficulty | str, variation: int) -> GeneratedExercise:
    if isinstance(variation, bool) or not isinstance(variation, int) or variation < 0:
        raise ValueError(f"variation must be a whole number >= 0, got {variation!r}")
    try:
        level = Difficulty(difficulty)
    except ValueError:
        raise ValueError(
            f"unknown difficulty {difficulty!r}; expected one of {', '.join(d.value for d in Difficulty)}"
        ) from None
    if (topic, level) not in _TEMPLATES:
        raise KeyError(f"no exercises for topic {topic!r}; known topics: {', '.join(topics())}")
    template_id, build = _TEMPLATES[(topic, level)]
    # Not for security: a seeded generator, so the same variation always gives the same cases.
    spec = build(random.Random(f"{template_id}:{variation}"), variation)  # noqa: S311
    # A case must print something: the sandbox refuses an empty expected output (in an authored
    # exercise that is a forgotten one), so inputs whose answer is no output are left out.
    outputs = [
        (name, stdin, _render(spec.solve(stdin.splitlines()))) for name, stdin in _distinct(spec.inputs)
    ]
    cases = tuple(
        Case(name, stdin, expected, hidden=i >= VISIBLE_CASES)
        for i, (name, stdin, expected) in enumerate(o for o in outputs if o[2])
    )
    return GeneratedExercise(
        template_id=template_id,
        variation=variation,
        topic=topic,
        difficulty=level,
        title=spec.title,
        prompt=spec.prompt,
        starter_code=spec.starter_code,
        reference_solution=spec.solution,
        cases=cases,
    )


def _template(topic: str, difficulty: Difficulty, template_id: str) -> Callable[[_Builder], _Builder]:
    def register(build: _Builder) -> _Builder:
        _TEMPLATES[(topic, difficulty)] = (template_id, build)
        return build

    return register


def _distinct(inputs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The inputs without repeats (a random input may equal a fixed one), each with its own name."""
    seen_inputs: set[str] = set()
    names: dict[str, int] = {}
    distinct = []
    for name, stdin in inputs:
        if stdin in seen_inputs:
            continue
        seen_inputs.add(stdin)
        names[name] = names.get(name, 0) + 1
        distinct.append((name if names[name] == 1 else f"{name} ({names[name]})", stdin))
    return distinct


def _render(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _fill(text: str, **values: object) -> str:
    """`text` with each <<NAME>> replaced (code is full of braces, so no str.format)."""
    for name, value in values.items():
        text = text.replace(f"<<{name}>>", str(value))
    return text


def _pick(options: Sequence[T], variation: int) -> T:
    return options[variation % len(options)]


# --- loops -----------------------------------------------------------------------------------------


@_template("loops", Difficulty.EASY, "loops-multiples")
def _multiples(rng: random.Random, variation: int) -> _Spec:
    k = 2 + variation % 9
    ns = [3, 5, 1, 0, rng.randint(6, 12)]
    return _Spec(
        title=f"Multiples of {k}",
        prompt=(
            f"Read a whole number n. Print the first n multiples of {k} — {k}, {2 * k}, {3 * k}, … up to "
            f"n times {k} — one per line. (If n is 0, print nothing.)"
        ),
        starter_code="n = int(input())\n# print the first n multiples, one per line\n",
        solution=_fill("n = int(input())\nfor i in range(1, n + 1):\n    print(i * <<K>>)\n", K=k),
        inputs=[(f"n = {n}", f"{n}\n") for n in ns],
        solve=lambda lines: [str(i * k) for i in range(1, int(lines[0]) + 1)],
    )


_PAIRS = [(3, 5), (2, 7), (4, 6), (3, 4), (5, 7), (2, 3)]
_WORDS = [("Fizz", "Buzz"), ("Ping", "Pong"), ("Tic", "Tac"), ("Bim", "Bam"), ("Zig", "Zag")]


@_template("loops", Difficulty.MEDIUM, "loops-fizzbuzz")
def _fizzbuzz(rng: random.Random, variation: int) -> _Spec:
    a, b = _pick(_PAIRS, variation)
    w1, w2 = _pick(_WORDS, variation)
    ns = [15, 10, 1, a * b, rng.randint(20, 40)]

    def solve(lines: list[str]) -> list[str]:
        out = []
        for i in range(1, int(lines[0]) + 1):
            word = (w1 if i % a == 0 else "") + (w2 if i % b == 0 else "")
            out.append(word or str(i))
        return out

    return _Spec(
        title=f"{w1}{w2}",
        prompt=(
            f"Read a whole number n. For each number i from 1 to n, print one line: `{w1}{w2}` if i is "
            f"divisible by both {a} and {b}, `{w1}` if only by {a}, `{w2}` if only by {b}, and otherwise i "
            "itself."
        ),
        starter_code=(
            "n = int(input())\nfor i in range(1, n + 1):\n    # decide what to print for i\n    pass\n"
        ),
        solution=_fill(
            "n = int(input())\n"
            "for i in range(1, n + 1):\n"
            "    if i % <<A>> == 0 and i % <<B>> == 0:\n"
            '        print("<<W1>><<W2>>")\n'
            "    elif i % <<A>> == 0:\n"
            '        print("<<W1>>")\n'
            "    elif i % <<B>> == 0:\n"
            '        print("<<W2>>")\n'
            "    else:\n"
            "        print(i)\n",
            A=a,
            B=b,
            W1=w1,
            W2=w2,
        ),
        inputs=[(f"n = {n}", f"{n}\n") for n in ns],
        solve=solve,
    )


@_template("loops", Difficulty.HARD, "loops-digit-chain")
def _digit_chain(rng: random.Random, variation: int) -> _Spec:
    limit = _pick([10, 15, 20, 25, 30, 12, 18, 22, 35], variation)
    ns = [9875, 7, 99999, limit, rng.randint(10**5, 10**9)]

    def solve(lines: list[str]) -> list[str]:
        n = int(lines[0])
        chain = [n]
        while n >= limit:  # the digit sum of a number >= 10 is smaller than it: this ends
            n = sum(int(d) for d in str(n))
            chain.append(n)
        return [str(x) for x in chain]

    return _Spec(
        title=f"Digit sums below {limit}",
        prompt=(
            f"Read a positive whole number n. While n is {limit} or more, replace n with the sum of its "
            f"digits. Print every number of the chain, one per line: first the n you read, last the first "
            f"number below {limit}."
        ),
        starter_code="n = int(input())\nprint(n)\n# keep replacing n with the sum of its digits\n",
        solution=_fill(
            "n = int(input())\n"
            "print(n)\n"
            "while n >= <<LIMIT>>:\n"
            "    total = 0\n"
            "    for digit in str(n):\n"
            "        total += int(digit)\n"
            "    n = total\n"
            "    print(n)\n",
            LIMIT=limit,
        ),
        inputs=[(f"n = {n}", f"{n}\n") for n in ns],
        solve=solve,
    )


# --- conditionals ----------------------------------------------------------------------------------

_WEATHER = [
    ("hot", "cold"),
    ("warm", "chilly"),
    ("t-shirt", "jumper"),
    ("swim", "skate"),
    ("summer", "winter"),
]


@_template("conditionals", Difficulty.EASY, "conditionals-threshold")
def _threshold(rng: random.Random, variation: int) -> _Spec:
    limit = 15 + variation % 16
    above, below = _pick(_WEATHER, variation)
    temps = [limit + 5, limit - 5, limit, limit + 1, -rng.randint(1, 20)]
    return _Spec(
        title=f"{above.capitalize()} or {below}",
        prompt=(
            f"Read a temperature (a whole number). Print `{above}` if it is above {limit}, otherwise "
            f"`{below}`."
        ),
        starter_code="temperature = int(input())\n# print the right word\n",
        solution=_fill(
            'temperature = int(input())\nif temperature > <<LIMIT>>:\n    print("<<ABOVE>>")\nelse:\n'
            '    print("<<BELOW>>")\n',
            LIMIT=limit,
            ABOVE=above,
            BELOW=below,
        ),
        inputs=[(f"temperature {t}", f"{t}\n") for t in temps],
        solve=lambda lines: [above if int(lines[0]) > limit else below],
    )


@_template("conditionals", Difficulty.MEDIUM, "conditionals-grades")
def _grades(rng: random.Random, variation: int) -> _Spec:
    a = 90 - variation % 6
    b = a - 10 - variation % 3
    c = b - 10 - variation % 4
    scores = [95, (b + c) // 2 + 1, a, b - 1, c, 0, 100, rng.randint(0, 100)]

    def grade(score: int) -> str:
        return "A" if score >= a else "B" if score >= b else "C" if score >= c else "F"

    return _Spec(
        title="Letter grades",
        prompt=(
            f"Read a score from 0 to 100. Print its letter grade: `A` for {a} or more, `B` for {b} or "
            f"more, `C` for {c} or more, and `F` below {c}."
        ),
        starter_code="score = int(input())\n# print A, B, C or F\n",
        solution=_fill(
            "score = int(input())\n"
            "if score >= <<A>>:\n"
            '    print("A")\n'
            "elif score >= <<B>>:\n"
            '    print("B")\n'
            "elif score >= <<C>>:\n"
            '    print("C")\n'
            "else:\n"
            '    print("F")\n',
            A=a,
            B=b,
            C=c,
        ),
        inputs=[(f"score {s}", f"{s}\n") for s in scores],
        solve=lambda lines: [grade(int(lines[0]))],
    )


_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@_template("conditionals", Difficulty.HARD, "conditionals-tickets")
def _tickets(rng: random.Random, variation: int) -> _Spec:
    child_under = 10 + variation % 5
    senior_from = 60 + variation % 6
    adult = 10 + 2 * (variation % 7)
    child, senior = adult // 2, adult - 3
    day = _pick(_DAYS, variation)
    other = _DAYS[(_DAYS.index(day) + 1 + rng.randint(0, 5)) % 7]

    def price(age: int, today: str) -> int:
        full = child if age < child_under else senior if age >= senior_from else adult
        return full // 2 if today == day else full

    people = [(30, other), (child_under - 3, day), (child_under, other), (senior_from, other),
              (senior_from + 10, day), (0, other)]  # fmt: skip
    return _Spec(
        title="Cinema tickets",
        prompt=(
            f"Read an age (a whole number) and then a day of the week in lowercase, each on its own line. "
            f"A ticket costs {child} for children under {child_under}, {senior} for people aged "
            f"{senior_from} or more, and {adult} for everyone else. On {day}s every ticket is half price, "
            "rounded down to a whole number. Print the price."
        ),
        starter_code="age = int(input())\nday = input()\n# work out and print the price\n",
        solution=_fill(
            "age = int(input())\n"
            "day = input()\n"
            "if age < <<CHILD_UNDER>>:\n"
            "    price = <<CHILD>>\n"
            "elif age >= <<SENIOR_FROM>>:\n"
            "    price = <<SENIOR>>\n"
            "else:\n"
            "    price = <<ADULT>>\n"
            'if day == "<<DAY>>":\n'
            "    price = price // 2\n"
            "print(price)\n",
            CHILD_UNDER=child_under,
            CHILD=child,
            SENIOR_FROM=senior_from,
            SENIOR=senior,
            ADULT=adult,
            DAY=day,
        ),
        inputs=[(f"age {age} on {d}", f"{age}\n{d}\n") for age, d in people],
        solve=lambda lines: [str(price(int(lines[0]), lines[1].strip()))],
    )


# --- strings ---------------------------------------------------------------------------------------

_SOME_WORDS = ["echo", "python", "loop", "banana", "code", "tea", "rocket", "a", "zebra", "moon"]
_SENTENCES = [
    "A banana a day keeps the bananas away",
    "Python is a programming language that lets you work quickly",
    "Loops repeat, and repetition teaches",
    "The quick brown fox jumps over the lazy dog",
    "Strings are sequences of characters",
    "Every Rose Has Its Thorn",
    "no vowels? try rhythm",
]


@_template("strings", Difficulty.EASY, "strings-repeat")
def _repeat(rng: random.Random, variation: int) -> _Spec:
    times = 2 + variation % 5
    separator = _pick(["-", "+", " ", "*", "|", ", ", "~"], variation)
    words = rng.sample(_SOME_WORDS, 5)
    return _Spec(
        title=f"Say it {times} times",
        prompt=f"Read a word. Print it {times} times on one line, with `{separator}` between the copies.",
        starter_code="word = input()\n# print the word repeated, with the separator between copies\n",
        solution=_fill(
            'word = input()\nprint("<<SEP>>".join([word] * <<TIMES>>))\n', SEP=separator, TIMES=times
        ),
        inputs=[(f"word {w!r}", f"{w}\n") for w in words],
        solve=lambda lines: [separator.join([lines[0]] * times)],
    )


@_template("strings", Difficulty.MEDIUM, "strings-count-letter")
def _count_letter(rng: random.Random, variation: int) -> _Spec:
    letter = _pick("aeiourstln", variation)
    lines_in = [*rng.sample(_SENTENCES, 4), ""]
    return _Spec(
        title=f"Count the {letter}'s",
        prompt=(
            f"Read a line of text. Print how many times the letter `{letter}` appears in it, counting "
            f"both `{letter}` and `{letter.upper()}`."
        ),
        starter_code="text = input()\ncount = 0\n# count the letter, in either case\nprint(count)\n",
        solution=_fill(
            'text = input()\ncount = 0\nfor char in text.lower():\n    if char == "<<L>>":\n'
            "        count += 1\nprint(count)\n",
            L=letter,
        ),
        inputs=[(f"text {t!r}", f"{t}\n") for t in lines_in],
        solve=lambda lines: [str((lines[0] if lines else "").lower().count(letter))],
    )


@_template("strings", Difficulty.HARD, "strings-caesar")
def _caesar(rng: random.Random, variation: int) -> _Spec:
    shift = 1 + variation % 25
    texts = ["hello world", "Attack at Dawn!", "xyz", rng.choice(_SENTENCES), "123 go"]

    def encode(text: str) -> str:
        out = []
        for char in text:
            for alphabet in (string.ascii_lowercase, string.ascii_uppercase):
                if char in alphabet:
                    char = alphabet[(alphabet.index(char) + shift) % 26]
                    break
            out.append(char)
        return "".join(out)

    return _Spec(
        title=f"Caesar cipher, shift {shift}",
        prompt=(
            f"Read a line of text and print it encrypted with a Caesar cipher: every letter moves {shift} "
            f"places forward in the alphabet, wrapping around from z to a (so with a shift of {shift}, `a` "
            f"becomes `{encode('a')}` and `z` becomes `{encode('z')}`). Keep upper- and lowercase; leave "
            "everything that isn't a letter unchanged."
        ),
        starter_code="text = input()\nresult = ''\n# shift each letter\nprint(result)\n",
        solution=_fill(
            "text = input()\n"
            'lower = "abcdefghijklmnopqrstuvwxyz"\n'
            "upper = lower.upper()\n"
            'result = ""\n'
            "for char in text:\n"
            "    if char in lower:\n"
            "        result += lower[(lower.index(char) + <<SHIFT>>) % 26]\n"
            "    elif char in upper:\n"
            "        result += upper[(upper.index(char) + <<SHIFT>>) % 26]\n"
            "    else:\n"
            "        result += char\n"
            "print(result)\n",
            SHIFT=shift,
        ),
        inputs=[(f"text {t!r}", f"{t}\n") for t in texts],
        solve=lambda lines: [encode(lines[0])],
    )


# --- lists -----------------------------------------------------------------------------------------


def _numbers(rng: random.Random, count: int, low: int = -20, high: int = 60) -> list[int]:
    return [rng.randint(low, high) for _ in range(count)]


def _line(numbers: list[int]) -> str:
    return " ".join(str(n) for n in numbers) + "\n"


@_template("lists", Difficulty.EASY, "lists-count-above")
def _count_above(rng: random.Random, variation: int) -> _Spec:
    limit = 5 * (1 + variation % 10)
    lists = [
        _numbers(rng, 6, 0, 60),
        _numbers(rng, 4, 0, 60),
        [],
        [limit, limit, limit + 1],
        _numbers(rng, 12),
    ]
    return _Spec(
        title=f"How many above {limit}?",
        prompt=(
            "Read a line of whole numbers separated by spaces. Print how many of them are greater than "
            f"{limit}."
        ),
        starter_code=(
            "numbers = [int(x) for x in input().split()]\n# count the numbers greater than the limit\n"
        ),
        solution=_fill(
            "numbers = [int(x) for x in input().split()]\ncount = 0\nfor n in numbers:\n    if n > "
            "<<LIMIT>>:\n        count += 1\nprint(count)\n",
            LIMIT=limit,
        ),
        inputs=[(f"{len(ns)} numbers", _line(ns)) for ns in lists],
        solve=lambda lines: [str(sum(1 for x in (lines[0] if lines else "").split() if int(x) > limit))],
    )


@_template("lists", Difficulty.MEDIUM, "lists-reverse-multiples")
def _reverse_multiples(rng: random.Random, variation: int) -> _Spec:
    k = 2 + variation % 6
    lists = [_numbers(rng, 8), [k, 2 * k, 3 * k], [k * 10 + 1], _numbers(rng, 15), [-k, 0, k]]

    def solve(lines: list[str]) -> list[str]:
        found = [x for x in (int(t) for t in lines[0].split()) if x % k == 0]
        return [" ".join(str(x) for x in reversed(found)) if found else "none"]

    return _Spec(
        title=f"Multiples of {k}, backwards",
        prompt=(
            f"Read a line of whole numbers separated by spaces. Print the ones that are multiples of {k}, "
            "in reverse order, on one line separated by spaces. If there are none, print `none`."
        ),
        starter_code="numbers = [int(x) for x in input().split()]\n# keep the multiples, then reverse them\n",
        solution=_fill(
            "numbers = [int(x) for x in input().split()]\n"
            "found = []\n"
            "for n in numbers:\n"
            "    if n % <<K>> == 0:\n"
            "        found.append(n)\n"
            "found.reverse()\n"
            "if found:\n"
            '    print(" ".join(str(n) for n in found))\n'
            "else:\n"
            '    print("none")\n',
            K=k,
        ),
        inputs=[(f"{len(ns)} numbers", _line(ns)) for ns in lists],
        solve=solve,
    )


@_template("lists", Difficulty.HARD, "lists-best-window")
def _best_window(rng: random.Random, variation: int) -> _Spec:
    width = 2 + variation % 4
    lists = [_numbers(rng, 8), _numbers(rng, width + 1), [-5] * width, _numbers(rng, 20), [7] * (width + 3)]

    def solve(lines: list[str]) -> list[str]:
        xs = [int(t) for t in lines[0].split()]
        return [str(max(sum(xs[i : i + width]) for i in range(len(xs) - width + 1)))]

    return _Spec(
        title=f"Best {width} in a row",
        prompt=(
            f"Read a line of at least {width} whole numbers separated by spaces. Print the largest sum of "
            f"{width} numbers that stand next to each other."
        ),
        starter_code="numbers = [int(x) for x in input().split()]\n# try every window of neighbours\n",
        solution=_fill(
            "numbers = [int(x) for x in input().split()]\n"
            "best = None\n"
            "for start in range(len(numbers) - <<W>> + 1):\n"
            "    total = sum(numbers[start:start + <<W>>])\n"
            "    if best is None or total > best:\n"
            "        best = total\n"
            "print(best)\n",
            W=width,
        ),
        inputs=[(f"{len(ns)} numbers", _line(ns)) for ns in lists],
        solve=solve,
    )


# --- functions -------------------------------------------------------------------------------------


@_template("functions", Difficulty.EASY, "functions-tax")
def _tax(rng: random.Random, variation: int) -> _Spec:
    percent = _pick([5, 8, 10, 12, 15, 20, 25], variation)
    amounts = [100, 250, 0, 99, rng.randint(1, 5000)]
    return _Spec(
        title=f"Add {percent}% tax",
        prompt=(
            f"Write a function `with_tax(amount)` that returns the amount plus {percent}% tax, where the tax "
            f"is `amount * {percent} // 100` (rounded down to a whole number). Then read a whole number, "
            "call "
            "your function with it and print the result."
        ),
        starter_code=(
            "def with_tax(amount):\n    # return the amount plus tax\n    pass\n\n\n"
            "print(with_tax(int(input())))\n"
        ),
        solution=_fill(
            "def with_tax(amount):\n    return amount + amount * <<P>> // "
            "100\n\n\nprint(with_tax(int(input())))\n",
            P=percent,
        ),
        inputs=[(f"amount {a}", f"{a}\n") for a in amounts],
        solve=lambda lines: [str(int(lines[0]) + int(lines[0]) * percent // 100)],
    )


_RULES = [("digit", str.isdigit, "char.isdigit()"), ("uppercase letter", str.isupper, "char.isupper()")]


@_template("functions", Difficulty.MEDIUM, "functions-password")
def _password(rng: random.Random, variation: int) -> _Spec:
    length = 6 + variation % 5
    what, test, code_test = _pick(_RULES, variation)
    good = "Secret" + "9" * length
    weak = "a" * (length - 1) + ("7" if what == "digit" else "Q")
    plain = "z" * (length + 2)
    exact = ("B" + "x" * (length - 2) + "4")[:length]
    candidates = [
        good,
        weak,
        plain,
        exact,
        "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length + 1)),
    ]

    def valid(password: str) -> bool:
        return len(password) >= length and any(test(c) for c in password)

    return _Spec(
        title="Password rules",
        prompt=(
            f"Write a function `is_valid(password)` that returns True when the password is at least "
            f"{length} characters long and contains at least one {what}, and False otherwise. Read a "
            "password and print `valid` or `invalid`."
        ),
        starter_code=(
            "def is_valid(password):\n    # check both rules\n    return False\n\n\n"
            'print("valid" if is_valid(input()) else "invalid")\n'
        ),
        solution=_fill(
            "def is_valid(password):\n"
            "    if len(password) < <<LENGTH>>:\n"
            "        return False\n"
            "    for char in password:\n"
            "        if <<TEST>>:\n"
            "            return True\n"
            "    return False\n"
            "\n\n"
            'print("valid" if is_valid(input()) else "invalid")\n',
            LENGTH=length,
            TEST=code_test,
        ),
        inputs=[(f"password {p!r}", f"{p}\n") for p in candidates],
        solve=lambda lines: ["valid" if valid(lines[0]) else "invalid"],
    )


@_template("functions", Difficulty.HARD, "functions-sequence")
def _sequence(rng: random.Random, variation: int) -> _Spec:
    first = 1 + variation % 4
    factor = 2 + variation % 3
    step = variation % 5
    ns = [1, 4, 10, 2, rng.randint(5, 15)]

    def term(n: int) -> int:
        value = first
        for _ in range(n - 1):
            value = value * factor + step
        return value

    return _Spec(
        title="The n-th term",
        prompt=(
            f"A sequence starts with {first}, and each next term is the previous one times {factor} plus "
            f"{step}. Write a function `term(n)` that returns the n-th term (term(1) is {first}). Read n "
            "and print term(n)."
        ),
        starter_code="def term(n):\n    # compute the n-th term\n    pass\n\n\nprint(term(int(input())))\n",
        solution=_fill(
            "def term(n):\n"
            "    value = <<FIRST>>\n"
            "    for _ in range(n - 1):\n"
            "        value = value * <<FACTOR>> + <<STEP>>\n"
            "    return value\n"
            "\n\n"
            "print(term(int(input())))\n",
            FIRST=first,
            FACTOR=factor,
            STEP=step,
        ),
        inputs=[(f"n = {n}", f"{n}\n") for n in ns],
        solve=lambda lines: [str(term(int(lines[0])))],
    )


# --- dicts -----------------------------------------------------------------------------------------

_FRUITS = ["apple", "banana", "cherry", "kiwi", "mango", "pear", "plum", "grape", "lemon", "melon"]


@_template("dicts", Difficulty.EASY, "dicts-price-lookup")
def _price_lookup(rng: random.Random, variation: int) -> _Spec:
    start = variation % len(_FRUITS)
    stocked = [_FRUITS[(start + i) % len(_FRUITS)] for i in range(4)]
    prices = {fruit: rng.randint(1, 9) * 5 for fruit in stocked}
    missing = _FRUITS[(start + 5) % len(_FRUITS)]
    listing = ", ".join(f"{fruit} {price}" for fruit, price in prices.items())
    asks = [stocked[0], missing, stocked[3], stocked[1].upper(), stocked[2]]
    return _Spec(
        title="Fruit prices",
        prompt=(
            f"The shop's prices are: {listing}. Store them in a dictionary, read the name of a fruit and "
            "print its price — or `unknown` if the shop doesn't sell it (names are lowercase: `APPLE` is "
            "unknown)."
        ),
        starter_code=f"prices = {{}}  # fill in: {listing}\nfruit = input()\n# print the price or unknown\n",
        solution=(
            f"prices = {prices!r}\nfruit = input()\nif fruit in prices:\n    print(prices[fruit])\n"
            'else:\n    print("unknown")\n'
        ),
        inputs=[(f"fruit {a!r}", f"{a}\n") for a in asks],
        solve=lambda lines: [str(prices[lines[0]]) if lines[0] in prices else "unknown"],
    )


@_template("dicts", Difficulty.MEDIUM, "dicts-frequent-words")
def _frequent_words(rng: random.Random, variation: int) -> _Spec:
    at_least = 2 + variation % 3
    pool = rng.sample(_SOME_WORDS, 4)
    texts = [
        " ".join(rng.choice(pool) for _ in range(10)),
        " ".join(pool),
        " ".join([pool[0]] * at_least + [pool[1]] * (at_least - 1)),
        " ".join(rng.choice(pool) for _ in range(25)),
        "",
    ]

    def solve(lines: list[str]) -> list[str]:
        counts: dict[str, int] = {}
        for word in (lines[0] if lines else "").split():
            counts[word] = counts.get(word, 0) + 1
        found = [f"{w} {c}" for w, c in counts.items() if c >= at_least]
        return found or ["none"]

    return _Spec(
        title=f"Words seen {at_least} times or more",
        prompt=(
            f"Read a line of words separated by spaces. Print each word that appears at least {at_least} "
            "times, with its count (`word count`), one per line, in the order the words first appear. If "
            "no word appears that often, print `none`."
        ),
        starter_code=(
            "words = input().split()\ncounts = {}\n# count each word, then print the frequent ones\n"
        ),
        solution=_fill(
            "words = input().split()\n"
            "counts = {}\n"
            "for word in words:\n"
            "    counts[word] = counts.get(word, 0) + 1\n"
            "found = False\n"
            "for word, count in counts.items():\n"
            "    if count >= <<K>>:\n"
            "        print(word, count)\n"
            "        found = True\n"
            "if not found:\n"
            '    print("none")\n',
            K=at_least,
        ),
        inputs=[(f"{len(t.split())} words", f"{t}\n") for t in texts],
        solve=solve,
    )


_NAMES = ["ada", "alan", "grace", "linus", "guido", "barbara", "ken", "margaret", "tim", "radia"]


@_template("dicts", Difficulty.HARD, "dicts-leaderboard")
def _leaderboard(rng: random.Random, variation: int) -> _Spec:
    top = 2 + variation % 3

    def game(players: int, rounds: int) -> list[tuple[str, int]]:
        names = rng.sample(_NAMES, players)
        return [(rng.choice(names), rng.randint(0, 20)) for _ in range(rounds)]

    tied = [("tim", 5), ("ada", 3), ("ken", 8), ("ada", 2)]  # ada and tim tie: alphabetical order decides
    games = [game(4, 8), tied, game(top - 1, 3), game(6, 20), [("solo", 0)]]

    def solve(lines: list[str]) -> list[str]:
        totals: dict[str, int] = {}
        for line in lines[1 : 1 + int(lines[0])]:
            name, points = line.split()
            totals[name] = totals.get(name, 0) + int(points)
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        return [f"{name} {total}" for name, total in ranked[:top]]

    return _Spec(
        title=f"Top {top} players",
        prompt=(
            "Read a number n, then n lines of `name points`. Add up the points of each player and print "
            f"the top {top} players (or all, if there are fewer) as `name total`, highest total first; "
            "players with the same total are listed alphabetically."
        ),
        starter_code=(
            "n = int(input())\ntotals = {}\nfor _ in range(n):\n    name, points = input().split()\n"
            "    # add the points to the player's total\n"
        ),
        solution=_fill(
            "n = int(input())\n"
            "totals = {}\n"
            "for _ in range(n):\n"
            "    name, points = input().split()\n"
            "    totals[name] = totals.get(name, 0) + int(points)\n"
            "ranking = sorted(totals.items(), key=lambda item: (-item[1], item[0]))\n"
            "for name, total in ranking[:<<TOP>>]:\n"
            "    print(name, total)\n",
            TOP=top,
        ),
        inputs=[
            (f"{len(rounds)} rounds", f"{len(rounds)}\n" + "".join(f"{n} {p}\n" for n, p in rounds))
            for rounds in games
        ],
        solve=solve,
    )

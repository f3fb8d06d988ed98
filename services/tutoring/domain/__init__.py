"""Tutoring's domain: the offline brains of the tutor, pure functions over a student's text and code.

    triage.py       which agent should answer a message (concept, debug, code review, exercise, ...)
    tracebacks.py   a pasted or captured traceback, read into type, message, line and frames
    debug.py        why a program fails or never ends, as a ladder of hints and a fix
    concepts.py     explanations grounded in the documentation shipped with the interpreter (pydoc)
    docs.py         that documentation searchable: BM25 over pydoc topics, builtins and the stdlib
    language.py     questions in Spanish, French and German, glossed into English for the rules
    review.py       static review of a submission, plus what its sandbox run said; a quality score
    exercises.py    a bank of parameterised exercises with stdin/stdout cases
    leaks.py        whether a hint written by a model gives the solution away, and how to strip code

Pure logic, standard library only: no gRPC, SQLAlchemy, NATS, network or generated code, and nothing
here runs student code (ast, tokenize and compile only). Every function is deterministic: the same
input gives the same output, and any randomness comes from an explicit seed. The agents call these
first and ask a language model only when the offline answer is missing or unsure, so the tutor keeps
working without a model, and a model's answer can be checked against them (leaks.py).

Inputs are untrusted and capped at MAX_INPUT_CHARS (source.cap) before any parsing.
"""

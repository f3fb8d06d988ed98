"""Questions in Spanish, French and German, read well enough for the offline tutor to answer them.

    read(text) -> Reading(language, english)

The offline tutor's rules and its documentation are English. For a message in one of these languages
we make an English gloss: its question phrases ("¿qué es", "qu'est-ce que", "was ist") and its Python
vocabulary ("lista", "boucle", "Wörterbuch") replaced by English words, everything else left as it was
(names, code, numbers). The gloss is what triage and the concepts agent read; the answer is in English,
and says so (a model, when one is configured, answers in the student's language). A message is taken
to be in a language when it has at least two of its marker words, or one of its question phrases.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ENGLISH = "en"
NAMES = {"es": "Spanish", "fr": "French", "de": "German", ENGLISH: "English"}

# Question phrases, longest first within a language, with the English that triage recognises.
_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "es": (
        (r"qu[eé] (es|son) (un|una|el|la|los|las)", "what is a"),
        (r"qu[eé] (es|son)", "what is"),
        (r"qu[eé] hace", "what does"),
        (r"qu[eé] significa", "what is the meaning of"),
        (r"c[oó]mo funcionan?", "how does work"),
        (r"c[oó]mo (se )?(usa|uso|utiliza|hago|puedo)", "how to"),
        (r"para qu[eé] sirven?", "what is the point of"),
        (r"(me )?explica(me|r)?|expl[ií]ca(me|nos)?", "explain"),
        (r"diferencia entre", "difference between"),
        (r"por qu[eé]", "why is"),
        (r"no funciona", "doesn't work"),
        (r"dame (un|una|otro|otra) (ejercicio|problema|reto)", "give me an exercise"),
        (r"(la )?respuesta", "the answer"),
        (r"(otra )?pista", "another hint"),
    ),
    "fr": (
        (r"qu'est[- ]ce (que|qu') ?(c'est )?(un|une|le|la|les|l')?", "what is a "),
        (r"c'est quoi (un|une|le|la|les|l')?", "what is a "),
        (r"que (fait|signifie|veut dire)", "what does"),
        (r"comment (fonctionnent|fonctionne|marche|marchent)", "how does work"),
        (r"comment (utiliser|faire|puis-je|on)", "how to"),
        (r"(peux-tu |pouvez-vous )?(m')?expliquer|explique(-moi|z)?", "explain"),
        (r"diff[eé]rence entre", "difference between"),
        (r"pourquoi", "why is"),
        (r"ne (fonctionne|marche) pas", "doesn't work"),
        (r"donne-moi (un|une) (exercice|probl[eè]me)", "give me an exercise"),
        (r"(la )?r[eé]ponse", "the answer"),
        (r"(un )?autre indice", "another hint"),
    ),
    "de": (
        (r"was (ist|sind) (ein|eine|der|die|das)", "what is a"),
        (r"was (ist|sind)", "what is"),
        (r"was (macht|bedeutet|tut)", "what does"),
        (r"wie funktionier(t|en)", "how does work"),
        (r"wie (benutze|verwende|nutze|kann) ", "how to "),
        (r"erkl[aä]r(e|en|st)?( mir)?", "explain"),
        (r"unterschied zwischen", "difference between"),
        (r"warum", "why is"),
        (r"funktioniert nicht", "doesn't work"),
        (r"gib mir (eine|ein) (aufgabe|[uü]bung)", "give me an exercise"),
        (r"(die )?l[oö]sung|(die )?antwort", "the answer"),
        (r"(noch )?(einen|ein) (tipp|hinweis)", "another hint"),
    ),
}

# Python vocabulary: the words triage, the concept map and the documentation know it by.
_TERMS: dict[str, dict[str, str]] = {
    "es": {
        "listas?": "list",
        "diccionarios?": "dictionary",
        "tuplas?": "tuple",
        "conjuntos?": "set",
        "cadenas?( de (texto|caracteres))?": "string",
        "bucles? for": "for loop",
        "bucles? while": "while loop",
        "bucles?": "loop",
        "ciclos?": "loop",
        "funci[oó]n|funciones": "function",
        "variables?": "variable",
        "clases?": "class",
        "objetos?": "object",
        "m[eé]todos?": "method",
        "excepci[oó]n|excepciones": "exception",
        "errore?s?": "error",
        "archivos?|ficheros?": "file",
        "m[oó]dulos?": "module",
        "recursi[oó]n|recursividad": "recursion",
        "decoradore?s?": "decorator",
        "generadore?s?": "generator",
        "iteradore?s?": "iterator",
        "condicional(es)?": "conditional",
        "herencia": "inheritance",
        "enteros?": "integer",
        "comprensi[oó]n de listas": "list comprehension",
        "ejercicios?": "exercise",
        "c[oó]digo": "code",
    },
    "fr": {
        "listes?": "list",
        "dictionnaires?": "dictionary",
        "tuples?": "tuple",
        "ensembles?": "set",
        "cha[iî]nes?( de caract[eè]res)?": "string",
        "boucles? for": "for loop",
        "boucles? while": "while loop",
        "boucles?": "loop",
        "fonctions?": "function",
        "variables?": "variable",
        "classes?": "class",
        "objets?": "object",
        "m[eé]thodes?": "method",
        "exceptions?": "exception",
        "erreurs?": "error",
        "fichiers?": "file",
        "modules?": "module",
        "r[eé]cursivit[eé]|r[eé]cursion": "recursion",
        "d[eé]corateurs?": "decorator",
        "g[eé]n[eé]rateurs?": "generator",
        "it[eé]rateurs?": "iterator",
        "h[eé]ritage": "inheritance",
        "entiers?": "integer",
        "compr[eé]hensions? de listes?": "list comprehension",
        "exercices?": "exercise",
        "code": "code",
    },
    "de": {
        "listen?": "list",
        "w[oö]rterb[uü]ch(er)?|dictionar(y|ies)|dicts?": "dictionary",
        "tupel": "tuple",
        "mengen?": "set",
        "zeichenketten?|strings?": "string",
        "for-schleifen?": "for loop",
        "while-schleifen?": "while loop",
        "schleifen?": "loop",
        "funktion(en)?": "function",
        "variablen?": "variable",
        "klassen?": "class",
        "objekte?": "object",
        "methoden?": "method",
        "ausnahmen?": "exception",
        "fehler": "error",
        "dateien?": "file",
        "module?": "module",
        "rekursion": "recursion",
        "dekoratore?n?": "decorator",
        "generatore?n?": "generator",
        "iteratore?n?": "iterator",
        "vererbung": "inheritance",
        "ganzzahlen?": "integer",
        "list[- ]?comprehensions?": "list comprehension",
        "[uü]bung(en)?|aufgaben?": "exercise",
    },
}

# Everyday words that tell the languages apart (none of them English words).
_MARKER_WORDS = {
    "es": "qué que es una un el la los las cómo como por para sirve funciona explica explícame diferencia "
    "entre mi mis está esta este código dame otra pista respuesta sólo solo dime puedo hago en de del "
    "con y o se lo al",
    "fr": "qu'est-ce que c'est une un le la les des est comment pourquoi fonctionne explique expliquer "
    "différence entre mon ma mes ce cette donne-moi réponse indice juste marche pas en et ou du de avec "
    "dans sur",
    "de": "was ist sind ein eine der die das wie funktioniert erkläre erklär warum unterschied zwischen mein "
    "meine mir gib lösung antwort nicht und ich bitte noch einen oder mit von im in den dem",
}
_MARKERS = {language: frozenset(words.split()) for language, words in _MARKER_WORDS.items()}
# Marker words that are also English words the rules read (the replacements write "a", "in"...).
_ENGLISH_KEPT = frozenset({"a", "in", "was", "is", "die"})
_APOSTROPHE = "\u2019"  # the typographic apostrophe phones type: read as a plain one
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


@dataclass(frozen=True)
class Reading:
    language: str  # "en", "es", "fr" or "de"
    english: str  # the message as the offline rules read it (unchanged for English)

    @property
    def translated(self) -> bool:
        return self.language != ENGLISH


def read(text: str) -> Reading:
    language = detect(text)
    if language == ENGLISH:
        return Reading(ENGLISH, text)
    return Reading(language, gloss(text, language))


def detect(text: str) -> str:
    lowered = unicodedata.normalize("NFC", text.lower()).replace(_APOSTROPHE, "'")
    found = set(_WORD.findall(lowered))
    best, best_score = ENGLISH, 0
    for language, markers in _MARKERS.items():
        score = len(found & markers)
        score += 2 * sum(1 for pattern, _ in _PHRASES[language] if _phrase(pattern).search(lowered))
        if score > best_score:
            best, best_score = language, score
    return best if best_score >= 2 else ENGLISH


def gloss(text: str, language: str) -> str:
    """`text` with the language's question phrases and Python words in English (case dropped)."""
    english = (
        unicodedata.normalize("NFC", text.lower())
        .replace(_APOSTROPHE, "'")
        .replace("¿", " ")
        .replace("¡", " ")
    )
    for pattern, replacement in _PHRASES.get(language, ()):
        english = _phrase(pattern).sub(replacement, english)
    for pattern, replacement in _TERMS.get(language, {}).items():
        english = _phrase(pattern).sub(replacement, english)
    # The language's own little words left over ("los", "une", "eine") mean nothing to the English
    # rules or to the documentation search: dropped. English words the replacements wrote stay.
    markers = _MARKERS.get(language, frozenset()) - _ENGLISH_KEPT
    kept = [w for w in english.split() if w.strip("?!.,;:") not in markers]
    return " ".join(kept)


_COMPILED: dict[str, re.Pattern[str]] = {}


def _phrase(pattern: str) -> re.Pattern[str]:
    if pattern not in _COMPILED:
        _COMPILED[pattern] = re.compile(rf"(?<![\w'-])(?:{pattern})(?![\w-])", re.IGNORECASE)
    return _COMPILED[pattern]

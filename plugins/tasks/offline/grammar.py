"""Minimal pairs from templates the project writes: a grammatical sentence and one broken by one word.

Four phenomena, each a template filled from small word lists (common words of English prose):
subject-verb agreement, agreement across an attractor noun, determiner-noun number agreement
and reflexive pronoun agreement.
"""

from __future__ import annotations

import random

NOUNS = [  # (singular, plural)
    ("player", "players"), ("company", "companies"), ("government", "governments"),
    ("student", "students"), ("city", "cities"), ("team", "teams"), ("official", "officials"),
    ("worker", "workers"), ("country", "countries"), ("leader", "leaders"), ("church", "churches"),
    ("family", "families"), ("school", "schools"), ("army", "armies"), ("village", "villages"),
]
PEOPLE = [("man", "men"), ("king", "kings"), ("father", "fathers"), ("boy", "boys"), ("brother", "brothers")]
VERB_PHRASES = [  # (singular verb, plural verb, continuations)
    ("is", "are", ["very large", "well known", "important to the region", "open to the public"]),
    ("was", "were", ["popular in the area", "founded in the city", "part of the state"]),
    ("has", "have", ["a long history", "many members", "a new plan"]),
    ("remains", "remain", ["in the north", "an important part of the country"]),
    ("continues", "continue", ["to grow", "to play a role"]),
    ("seems", "seem", ["to be ready", "very strong"]),
]
REFLEXIVE_VERBS = ["saw", "found", "described", "defended", "protected", "prepared"]

PHENOMENA = ("agreement", "attractor", "determiner", "reflexive")


def minimal_pair(phenomenon: str, rng: random.Random) -> dict[str, str]:
    """One pair: ``good`` and ``bad`` differ in exactly one word."""
    plural = rng.random() < 0.5
    number = 1 if plural else 0
    noun = rng.choice(NOUNS)
    verb_sg, verb_pl, tails = rng.choice(VERB_PHRASES)
    tail = rng.choice(tails)
    right, wrong = (verb_pl, verb_sg) if plural else (verb_sg, verb_pl)
    if phenomenon == "agreement":
        subject = f"The {noun[number]}"
        good, bad = f"{subject} {right} {tail}.", f"{subject} {wrong} {tail}."
    elif phenomenon == "attractor":
        other = rng.choice([n for n in NOUNS if n != noun])
        subject = f"The {noun[number]} of the {other[1 - number]}"
        good, bad = f"{subject} {right} {tail}.", f"{subject} {wrong} {tail}."
    elif phenomenon == "determiner":
        near = rng.random() < 0.5
        dets = ("this", "these") if near else ("that", "those")
        det, wrong_det = (dets[1], dets[0]) if plural else (dets[0], dets[1])
        rest = f"{noun[number]} {right} {tail}."
        good, bad = f"{det.capitalize()} {rest}", f"{wrong_det.capitalize()} {rest}"
    elif phenomenon == "reflexive":
        person = rng.choice(PEOPLE)
        verb = rng.choice(REFLEXIVE_VERBS)
        pronoun, wrong_pronoun = ("themselves", "himself") if plural else ("himself", "themselves")
        start = f"The {person[number]} {verb}"
        good, bad = f"{start} {pronoun}.", f"{start} {wrong_pronoun}."
    else:  # pragma: no cover - PHENOMENA lists every branch
        raise ValueError(f"unknown phenomenon {phenomenon!r}")
    return {"phenomenon": phenomenon, "good": good, "bad": bad}


def minimal_pairs(n: int, rng: random.Random) -> list[dict[str, str]]:
    """``n`` distinct pairs, the phenomena taking turns."""
    pairs: list[dict[str, str]] = []
    seen: set[str] = set()
    attempts = 0
    while len(pairs) < n and attempts < 100 * n:
        attempts += 1
        pair = minimal_pair(PHENOMENA[len(pairs) % len(PHENOMENA)], rng)
        if pair["good"] not in seen:
            seen.add(pair["good"])
            pairs.append(pair)
    return pairs

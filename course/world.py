"""A small synthetic world for module 12: invented people, what is true of them, and the text
that says so.

Every person has a first name and a surname (two words, each shared with other people, so a
person is named only by the pair) and one object for each of four relations: where they were
born and where they live (places), their trade and the instrument they play (attributes). Each
relation has four templates (paraphrases) that end with the object, so every fact can be asked
as a completion prompt: ``"velia moor was born in"`` -> ``"karst"``.

A seeded split makes a quarter of the people *held out*: their facts appear in no training text,
only in their documents. The documents (one per person, seen and held out) are the retrieval
corpus. Reading episodes (passages about people who are not in the world, then a question) teach
the model to answer from its context; their people are fresh name pairs, their facts random.

>>> w = make_world()
>>> f = w.facts[0]
>>> w.prompt(f, 0) + " " + f.object == w.sentence(f, 0)
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST_NAMES = (
    "velia oren tamsa brek ilsa doran mirel kasim elwen fenna jorin lysa teodor ysolde caspar "
    "nadine ruvik selma halvar petra ansel greta milo odile bastian cyra leopold wenna torvald "
    "ines emric solveig piet amara jarek liesel corin hedda falk runa"
).split()
SURNAMES = (
    "moor karsk velden ashby brandt dunmore elling fairweather grael holloway istvan jessup "
    "kettering lorne marrow nettle osgood pryce quill rookwood sallow thorne umber vance whitlock "
    "yarrow zeller aldane brisk corvin drummel eskild faro gillan harker lindqvist morrow penhale "
    "ravel stroud"
).split()
PLACES = (
    "karst velmora tollen brisa quarrow emberly saltmere duskfall orvale pellin windhaven "
    "greystone lowmarsh caldera fernwick ostby"
).split()
TRADES = "baker potter sailor weaver farmer doctor lawyer painter tailor miner teacher banker".split()
INSTRUMENTS = "harp oboe flute cello violin drum lute horn piano banjo".split()


@dataclass(frozen=True)
class Relation:
    name: str
    objects: tuple[str, ...]
    # "{s}" is the subject; every template ends where the object goes.
    templates: tuple[str, ...]


RELATIONS = (
    Relation(
        "born_in",
        tuple(PLACES),
        (
            "{s} was born in",
            "the birthplace of {s} is",
            "{s} is a native of",
            "{s} came into the world in",
        ),
    ),
    Relation(
        "lives_in",
        tuple(PLACES),
        ("{s} lives in", "the home of {s} is in", "{s} has a house in", "{s} resides in"),
    ),
    Relation(
        "works_as",
        tuple(TRADES),
        (
            "{s} works as a",
            "the trade of {s} is",
            "{s} earns a living as a",
            "by profession {s} is a",
        ),
    ),
    Relation(
        "plays",
        tuple(INSTRUMENTS),
        (
            "{s} plays the",
            "the instrument of {s} is the",
            "{s} performs on the",
            "{s} practises the",
        ),
    ),
)
RELATION = {r.name: r for r in RELATIONS}
END = "."  # every sentence ends with this token


@dataclass(frozen=True)
class Fact:
    subject: str  # "velia moor"
    relation: str  # "born_in"
    object: str  # "karst"


def _fill(template: str, subject: str) -> str:
    return template.format(s=subject)


def subject_span(relation: str, template: int, subject: str) -> tuple[int, int]:
    """(start, stop) word positions of the subject in the prompt of ``relation``'s ``template``."""
    words = RELATION[relation].templates[template].split()
    start = words.index("{s}")
    return start, start + len(subject.split())


@dataclass
class World:
    people: list[str]
    facts: list[Fact]
    held_out: frozenset[str]
    seed: int
    documents: list[str] = field(default_factory=list)  # documents[i] is about people[i]
    doc_plan: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    # --- the facts ---------------------------------------------------------------------------

    @property
    def relations(self) -> tuple[Relation, ...]:
        return RELATIONS

    def facts_of(self, subject: str) -> list[Fact]:
        return [f for f in self.facts if f.subject == subject]

    def fact(self, subject: str, relation: str) -> Fact:
        return next(f for f in self.facts if f.subject == subject and f.relation == relation)

    def seen_facts(self) -> list[Fact]:
        return [f for f in self.facts if f.subject not in self.held_out]

    def held_out_facts(self) -> list[Fact]:
        return [f for f in self.facts if f.subject in self.held_out]

    def seen_people(self) -> list[str]:
        return [p for p in self.people if p not in self.held_out]

    # --- text ---------------------------------------------------------------------------------

    @staticmethod
    def prompt(fact: Fact, template: int = 0) -> str:
        """The completion prompt of ``fact`` (without the object)."""
        return _fill(RELATION[fact.relation].templates[template], fact.subject)

    @staticmethod
    def sentence(fact: Fact, template: int = 0) -> str:
        """The whole sentence, object included, without the final '.'."""
        return World.prompt(fact, template) + " " + fact.object

    def document(self, subject: str, changes: dict[str, str] | None = None) -> str:
        """The document about ``subject``: its four facts in a fixed (seeded) order and wording.
        ``changes`` ({relation: object}) rewrites facts: the documents of a counterfactual world."""
        changes = changes or {}
        parts = []
        for relation, template in self.doc_plan[subject]:
            obj = changes.get(relation, self.fact(subject, relation).object)
            parts.append(self.sentence(Fact(subject, relation, obj), template) + " " + END)
        return " ".join(parts)

    def vocabulary(self) -> list[str]:
        """Every word the world's text can use, sorted, with '.' first: the model's tokens."""
        words = set(FIRST_NAMES) | set(SURNAMES) | set(PLACES) | set(TRADES) | set(INSTRUMENTS)
        for r in RELATIONS:
            for t in r.templates:
                words |= set(t.replace("{s}", "").split())
        words.discard(END)
        return [END, *sorted(words)]

    # --- training text and reading episodes ------------------------------------------------------

    def fact_sentences(self, rng: random.Random, n: int) -> list[str]:
        """``n`` random sentences (each ending in '.') stating seen facts with random templates."""
        seen = self.seen_facts()
        out = []
        for _ in range(n):
            f = rng.choice(seen)
            t = rng.randrange(len(RELATION[f.relation].templates))
            out.append(self.sentence(f, t) + " " + END)
        return out

    def stranger(self, rng: random.Random, like: str | None = None) -> str:
        """A name pair that is nobody in the world; with ``like``, sharing one of its two words
        half of the time (a confusable distractor)."""
        taken = set(self.people)
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            if like is not None and rng.random() < 0.5:
                a, b = like.split()
                first, last = (a, last) if rng.random() < 0.5 else (first, b)
            name = f"{first} {last}"
            if name not in taken and name != like:
                return name

    @staticmethod
    def random_document(subject: str, rng: random.Random) -> tuple[str, dict[str, str]]:
        """A document about ``subject`` with random objects and templates; (text, {relation: object})."""
        truth = {r.name: rng.choice(r.objects) for r in RELATIONS}
        order = list(RELATIONS)
        rng.shuffle(order)
        text = " ".join(
            World.sentence(Fact(subject, r.name, truth[r.name]), rng.randrange(len(r.templates)))
            + " "
            + END
            for r in order
        )
        return text, truth

    def reading_episode(self, rng: random.Random, n_passages: int) -> Episode:
        """Passages about strangers (one of them the subject, the others distractors that often
        share a word of its name) and a question about the subject, whose answer is stated only
        in the passages."""
        subject = self.stranger(rng)
        people = [subject] + [self.stranger(rng, like=subject) for _ in range(n_passages - 1)]
        docs = [self.random_document(p, rng) for p in people]
        stated = [Fact(p, rel, obj) for p, (_, truth) in zip(people, docs) for rel, obj in truth.items()]
        order = list(range(n_passages))
        rng.shuffle(order)
        rel = rng.choice(RELATIONS)
        question = Fact(subject, rel.name, docs[0][1][rel.name])
        return Episode([docs[i][0] for i in order], stated, question, rng.randrange(len(rel.templates)))


@dataclass(frozen=True)
class Episode:
    passages: list[str]
    stated: list[Fact]  # every fact the passages state
    question: Fact
    template: int

    def prompt(self) -> str:
        """The passages, then the question's prompt (the answer is the next word)."""
        return " ".join([*self.passages, World.prompt(self.question, self.template)])


def make_world(seed: int = 0, n_people: int = 240, held_out: float = 0.25) -> World:
    """The seeded world: ``n_people`` distinct name pairs, one uniformly random object per
    relation each, and a random ``held_out`` share of the people whose facts no training text
    states."""
    rng = random.Random(seed)
    pairs = [f"{a} {b}" for a in FIRST_NAMES for b in SURNAMES]
    if n_people > len(pairs):
        raise ValueError(f"at most {len(pairs)} people")
    people = rng.sample(pairs, n_people)
    facts = [Fact(p, r.name, rng.choice(r.objects)) for p in people for r in RELATIONS]
    held = frozenset(rng.sample(people, round(held_out * n_people)))
    world = World(people=people, facts=facts, held_out=held, seed=seed)
    for p in people:
        plan = [(r.name, rng.randrange(len(r.templates))) for r in RELATIONS]
        rng.shuffle(plan)
        world.doc_plan[p] = plan
    world.documents = [world.document(p) for p in people]
    return world

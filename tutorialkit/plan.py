"""One code path, two sizes: what a chapter runs on, chosen once by the profile.

Every chapter runs the same cells in both profiles. The profile chooses only *resources
and sizes*, in one place at the top of the chapter (``rt`` is what
:func:`tutorialkit.env.setup` returns)::

    P = plan(rt, "06_ner", "ner", epochs=(1, 3), lr=(3e-4, 5e-5), min_gain=(0.1, 0.5))
    print(P.banner())

* the **task** ("ner", "sentiment", ...) names the model and the data of each profile
  (:data:`TASKS`): the packaged MiniLM and corpora in the quick profile, the standard
  benchmarks' models and data from the Hugging Face Hub in the full profile;
* every other keyword is one row of the chapter's table of sizes and claim thresholds,
  written ``(quick, full)`` or ``(quick, full, rehearsal)``; a single value is the same
  everywhere. A rehearsal (the full profile against a small local copy of the Hub, in
  CI) uses the full profile's sources with the rehearsal column, which defaults to the
  quick one: sizes shrink, sources, ids, schemas and code do not.

The values are read as attributes: ``P.epochs``, ``P.lr``, ``P.model`` (what
:func:`tutorialkit.resources.load_model` takes), ``P.data`` (what :func:`load_splits`
takes). A claim that is about one profile's data only (links at the end of tweets: the
full profile's movie reviews have none) gets :data:`NO_CLAIM` as its threshold in the
other profile, and the chapter skips it there: ``if P.min_link_share is not NO_CLAIM:``.
A threshold that the claim cannot fail (a share ``>= 0``) would say the same thing
less honestly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from tutorialkit import claims
from tutorialkit.env import Runtime, banner


class _NoClaim:
    """The type of :data:`NO_CLAIM`; shown as ``no claim`` in a chapter's banner."""

    def __repr__(self) -> str:
        return "no claim"


#: The threshold of a claim that this profile does not make (see the module docstring).
NO_CLAIM = _NoClaim()

MINILM_NAME = "all-MiniLM-L6-v2 (pretrained, 6-layer uncased BERT)"


@dataclass(frozen=True)
class Source:
    """The model and the data of one task in one profile."""

    # "minilm" (packaged), a Hub id, or None: the chapter trains its own
    model: str | None
    model_name: str  # what the banner says
    data: str  # a key of load_splits: a packaged corpus or a Hub dataset
    data_name: str


TASKS: dict[str, dict[str, Source]] = {
    "ner": {
        "quick": Source(
            "minilm",
            MINILM_NAME,
            "wnut16",
            "WNUT-16 tweets (train file, split 80/10/10 by seed)",
        ),
        "full": Source(
            "bert-base-cased",
            "bert-base-cased",
            "conll2003",
            "CoNLL-2003 (Hugging Face Hub)",
        ),
    },
    "sentiment": {
        "quick": Source(
            "minilm", MINILM_NAME, "tweets", "graded tweets (negative/neutral/positive)"
        ),
        "full": Source(
            "bert-base-uncased",
            "bert-base-uncased",
            "sst2",
            "SST-2 (negative/positive); its validation split is our test part",
        ),
    },
    "chinese": {
        "quick": Source(
            None,
            "a small character BERT pre-trained in the chapter",
            "peoples_daily",
            "People's Daily, January 1998 (PER/LOC/ORG)",
        ),
        "full": Source(
            "bert-base-chinese",
            "bert-base-chinese",
            "peoples_daily",
            "People's Daily, January 1998 (PER/LOC/ORG)",
        ),
    },
    "generative": {
        "quick": Source(
            None,
            "a small GPT trained in the chapter",
            "zh_reviews",
            "Chinese product reviews",
        ),
        "full": Source(
            "distilgpt2", "distilgpt2", "imdb", "IMDB movie reviews (Hugging Face Hub)"
        ),
    },
    "instruct": {
        "quick": Source(
            None,
            "a small word-level GPT trained in the chapter",
            "tweets",
            "graded tweets (pre-training text and the words of the string tasks)",
        ),
        "full": Source(
            "distilgpt2",
            "a small word-level GPT trained in the chapter; distilgpt2",
            "alpaca",
            "graded tweets for our GPT; Alpaca instructions (Hugging Face Hub) for "
            "distilgpt2",
        ),
    },
}


@dataclass(frozen=True)
class Plan:
    """What one chapter runs on in this run: sources, sizes and claim thresholds."""

    chapter: str
    task: str
    rt: Runtime
    source: Source
    values: dict = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        """The model to load: a local folder (packaged MiniLM), a Hub id, or None."""
        return _model_path(self.source.model)

    def model_of(self, task: str) -> str | None:
        """The model another task uses in this profile (a chapter that needs two models,
        e.g. 09)."""
        return _model_path(TASKS[task][self.rt.profile].model)

    @property
    def data(self) -> str:
        """The data source, a key of :func:`load_splits`."""
        return self.source.data

    def __getattr__(self, name: str):
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"the plan of {self.__dict__.get('chapter')} has no {name!r}; it has "
            f"{sorted(values)}"
        )

    def banner(self) -> str:
        """The chapter's one-line banner: profile, device, model, data and every
        size."""
        sizes = ", ".join(f"{k}={_short(v)}" for k, v in self.values.items())
        return banner(
            self.rt,
            model=self.source.model_name,
            data=self.source.data_name,
            sizes=sizes,
        )


def _model_path(model: str | None) -> str | None:
    if model == "minilm":
        from tutorialkit.resources import packaged_path

        return str(packaged_path("minilm"))
    return model


def _short(value) -> str:
    if value is None:  # a size of None means "all of it" (e.g. every training text)
        return "all"
    return (
        f"{value:g}"
        if isinstance(value, float)
        else f"{value:,}"
        if isinstance(value, int)
        else str(value)
    )


def plan(rt: Runtime, chapter: str, task: str, **table) -> Plan:
    """The plan of ``chapter`` for the profile of ``rt``; starts the chapter's list of
    claims.

    Each keyword is ``(quick, full)``, ``(quick, full, rehearsal)`` or one value for
    all: with ``epochs=(1, 2)``, ``P.epochs`` is 1 in the quick profile and 2 in the
    full one. Usage: ``plan(rt, "05_recipe", "sentiment", epochs=(1, 2))``.
    """
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; known: {sorted(TASKS)}")
    column = 2 if rt.rehearsal else 1 if rt.profile == "full" else 0
    values = {}
    for name, row in table.items():
        if not isinstance(row, tuple):
            row = (row,)
        if len(row) not in (1, 2, 3):
            raise ValueError(
                f"{name}: expected (quick, full) or (quick, full, rehearsal), got "
                f"{row!r}"
            )
        values[name] = (
            row[0] if len(row) == 1 else row[column] if column < len(row) else row[0]
        )
    claims.start(chapter, rt.profile, rt.rehearsal)
    return Plan(chapter, task, rt, TASKS[task][rt.profile], values)


class Splits(NamedTuple):
    """Train, validation and test parts of a labelled corpus, and its label names in
    order."""

    labels: tuple[str, ...]
    train: list
    validation: list
    test: list


def load_splits(
    source: str,
    *,
    seed: int = 0,
    n: int | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> Splits:
    """Load a labelled corpus by its plan key and split it; the same call in both
    profiles.

    NER sources (``wnut16``, ``conll2003``) give ``TaggedSentence`` lists; sentiment
    sources (``tweets``, ``sst2``) give ``LabeledText`` lists. A source without a
    labelled test split (the packaged files) is cut by ``fractions`` (sentiment:
    stratified by class); a Hub dataset keeps its own splits (SST-2's test labels are
    hidden, so its validation split is the test part and its train split is cut into
    train and validation by the first two fractions). ``n`` draws that many training
    texts (sentiment only) before splitting. Usage: ``load_splits("tweets", n=1000,
    fractions=(0.6, 0.1, 0.3))``, whose ``labels`` are ``("negative", "neutral",
    "positive")``.
    """
    from tutorialkit import resources
    from tutorialkit.data import LabeledText, sample_and_split, split_dataset
    from tutorialkit.ner import hub_to_sentences, label_maps

    def draw_and_split(rows, parts):
        """Draw n rows (at most all of them), then split them stratified by label, both
        seeded."""
        return sample_and_split(
            rows,
            min(n, len(rows)) if n else None,
            parts,
            seed=seed,
            stratify=lambda row: row.label,
        )

    if source == "wnut16":
        train, validation, test = split_dataset(
            resources.load_wnut16(), fractions, seed=seed
        )
    elif source == "conll2003":
        hub = resources.load_hub_dataset("conll2003")
        train, validation, test = (
            hub_to_sentences(hub[s]) for s in ("train", "validation", "test")
        )
    elif source == "tweets":
        train, validation, test = draw_and_split(
            resources.load_tweets(verbose=False), fractions
        )
        return Splits(resources.TWEET_LABELS, train, validation, test)
    elif source == "sst2":
        labels = ("negative", "positive")
        hub = resources.load_hub_dataset("sst2")
        rows = [LabeledText(r["sentence"], labels[r["label"]]) for r in hub["train"]]
        keep = fractions[0] + fractions[1]
        train, validation, _ = draw_and_split(
            rows, (fractions[0] / keep, fractions[1] / keep, 0.0)
        )
        test = [
            LabeledText(r["sentence"], labels[r["label"]]) for r in hub["validation"]
        ]
        return Splits(labels, train, validation, test)
    else:
        raise KeyError(
            f"unknown data source {source!r}; known: wnut16, conll2003, tweets, sst2"
        )
    label2id, _ = label_maps(train + validation + test)
    return Splits(tuple(label2id), train, validation, test)

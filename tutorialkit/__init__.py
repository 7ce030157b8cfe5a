"""tutorialkit: the companion package of *Fine-tuning language models, from first principles to practice*.

One module per concern; each chapter of the book explains and uses one of them:

- :mod:`tutorialkit.env`: device, seeds, mixed precision, the quick/full run profile;
- :mod:`tutorialkit.resources`: where the pretrained models and the corpora come from;
- :mod:`tutorialkit.data`: CoNLL and CSV/TSV readers, the People's Daily converter, splits;
- :mod:`tutorialkit.attention`: scaled dot-product and multi-head attention, positions, the encoder block;
- :mod:`tutorialkit.losses`: cross-entropy, NLL, the LM and masked-LM losses, from scratch;
- :mod:`tutorialkit.optim`: AdamW from scratch, parameter groups, learning-rate schedules, clipping;
- :mod:`tutorialkit.train`: the one training loop: AMP, accumulation, evaluation, early stopping;
- :mod:`tutorialkit.checkpoint`: best weights, checkpoint files, bit-identical resume;
- :mod:`tutorialkit.ner`: label alignment to word pieces, dynamic padding, windows for long sentences;
- :mod:`tutorialkit.metrics`: entity-level precision/recall/F1, classification reports;
- :mod:`tutorialkit.peft`: LoRA from scratch, freezing layers, counting trainable parameters;
- :mod:`tutorialkit.gpt`: a decoder-only Transformer from the attention blocks, decoding, a KV cache;
- :mod:`tutorialkit.apps`: inference pipelines (raw text to entity spans, to sentiment scores);
- :mod:`tutorialkit.retrieval`: TF-IDF and embedding retrieval; one ranking for an FAQ and a recommender;
- :mod:`tutorialkit.monitor`: predictions over time windows, label shares, an alert rule, drift (PSI);
- :mod:`tutorialkit.deploy`: save/load a fine-tuned model as a bundle, measure latency and throughput;
- :mod:`tutorialkit.cli`: the command line (``python -m tutorialkit train`` / ``predict``);
- :mod:`tutorialkit.pretrain`: a character vocabulary and tokenizer, masked-LM pre-training of a small BERT;
- :mod:`tutorialkit.embeddings`: sentence vectors from an encoder;
- :mod:`tutorialkit.plots`: figures;
- :mod:`tutorialkit.show`: display package source code in a notebook.
"""

__version__ = "0.1.0"

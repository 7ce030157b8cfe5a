"""tutorialkit: the companion package of *Fine-tuning language models, from first
principles to practice*.

One module per concern; each chapter of the book explains and uses some of them.

Set-up
- :mod:`tutorialkit.env`: device, seeds, mixed precision, the quick/full run profile;
- :mod:`tutorialkit.resources`: where the pretrained models and the corpora come from;
- :mod:`tutorialkit.plan`: a chapter's sizes and thresholds per profile, its splits;
- :mod:`tutorialkit.claims`: measured claims, checked (quick, full) or recorded;
- :mod:`tutorialkit.show`: display package source code in a notebook.

Data
- :mod:`tutorialkit.textfiles`: decoding files line by line, errors with file and line;
- :mod:`tutorialkit.conll`: CoNLL files and IOB tags;
- :mod:`tutorialkit.peoples_daily`: the People's Daily corpus as character BIO tags;
- :mod:`tutorialkit.data`: text-classification files (CSV, TSV), seeded splits;
- :mod:`tutorialkit.batching`: batches of examples of similar length.

Models and training
- :mod:`tutorialkit.attention`: attention, positions, the encoder block, from scratch;
- :mod:`tutorialkit.losses`: cross-entropy, NLL, the LM and masked-LM losses;
- :mod:`tutorialkit.optim`: AdamW from scratch, parameter groups, schedules, clipping;
- :mod:`tutorialkit.train`: the one training loop (AMP, accumulation, early stopping);
- :mod:`tutorialkit.checkpoint`: best weights, checkpoint files, bit-identical resume;
- :mod:`tutorialkit.peft`: LoRA from scratch, freezing, counting parameters;
- :mod:`tutorialkit.gpt`: a small GPT, decoding, a KV cache;
- :mod:`tutorialkit.pretrain`: a character tokenizer, masked-LM pre-training;
- :mod:`tutorialkit.instruct`: chat template, SFT collator and packing, DPO.

Tasks, scores and use
- :mod:`tutorialkit.ner`: words to word pieces and back, windows, constrained decoding;
- :mod:`tutorialkit.classify`: text-classification encoders and predictions;
- :mod:`tutorialkit.metrics`: entity-level and classification scores;
- :mod:`tutorialkit.apps`: inference pipelines (text to entities, to sentiment);
- :mod:`tutorialkit.embeddings`: sentence vectors from an encoder;
- :mod:`tutorialkit.retrieval`: TF-IDF and embedding retrieval (FAQ, recommender);
- :mod:`tutorialkit.monitor`: predictions over time, alerts, drift;
- :mod:`tutorialkit.deploy`: bundles, latency and throughput;
- :mod:`tutorialkit.cli`: the command line (``python -m tutorialkit``);
- :mod:`tutorialkit.plots`: figures.
"""

__version__ = "0.1.0"

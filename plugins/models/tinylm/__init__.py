"""tinylm: a small GPT-2-style model trained offline on a real English corpus, as a model family."""

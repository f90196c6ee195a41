"""How word-level hidden states are taken from a model: the ``extraction`` settings of a config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.util.strict import Strict


class ExtractionSettings(Strict):
    """How word-level hidden states are taken from a model."""

    context_tokens: int = Field(512, ge=8)  # window length in tokens
    stride: int = Field(256, ge=1)  # tokens the window advances by
    word_token: Literal["last", "mean"] = "last"  # which of a word's tokens represent it
    batch_size: int = Field(8, ge=1)  # windows per forward pass
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"  # stored activation dtype

    @model_validator(mode="after")
    def _stride_fits(self) -> ExtractionSettings:
        if self.stride > self.context_tokens:
            raise ValueError(f"stride ({self.stride}) must not exceed context_tokens ({self.context_tokens})")
        return self

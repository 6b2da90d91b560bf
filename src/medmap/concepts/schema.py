"""The concept-set item schema (see FORMAT.md beside this file for the user-facing description)."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Domain = Literal["age", "symptoms", "diseases", "progression", "drugs", "dosage", "reference"]
"""The medical domains of the map, and ``reference``: the general-knowledge control set (not mapped)."""
LabelValue = Union[bool, int, str]  # bool first: a boolean label (e.g. ``cue``) stays a boolean

#: Labels each domain's geometry metrics group by. Categorical labels need two members per value.
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "age": ("age", "gender"),
    "symptoms": ("category",),
    "diseases": ("category",),
    "progression": ("disease", "stage"),
    "drugs": ("mechanism", "specialty"),
    "dosage": ("unit",),
    "reference": ("category",),
}


class PatchPair(BaseModel):
    """An activation-patching counterpart of an item: the clean prompt is the item's prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    corrupted_prompt: str = Field(min_length=1)
    clean_answer: str = Field(min_length=1)
    corrupted_answer: str = Field(min_length=1)

    @model_validator(mode="after")
    def _answers_differ(self) -> "PatchPair":
        if self.clean_answer == self.corrupted_answer:
            raise ValueError("clean_answer and corrupted_answer must differ")
        return self


class ConceptItem(BaseModel):
    """One item of a concept set: a prompt with its labels, reference answer and patching pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    domain: Domain
    prompt: str = Field(min_length=1)
    labels: dict[str, LabelValue]
    concept: str | None = None
    template: str | None = None
    span: str | None = None
    answer: str | None = None
    pair: PatchPair | None = None
    source: str | None = None

    @field_validator("labels")
    @classmethod
    def _labels_not_empty(cls, v: dict[str, LabelValue]) -> dict[str, LabelValue]:
        if not v:
            raise ValueError("labels must name at least one label")
        return v

    @model_validator(mode="after")
    def _span_in_prompt(self) -> "ConceptItem":
        if self.span is not None and self.span not in self.prompt:
            raise ValueError(f"span {self.span!r} does not occur in the prompt")
        if self.answer is not None and not self.answer.strip():
            raise ValueError("answer is blank")
        return self

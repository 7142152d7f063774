"""Annotation of reference dialogues: checklist labeling, LLM filtering, chain-of-thought compression.

Each job reads dialogues, asks an LLM (through any `cm2.llm.LLMClient`), validates what comes back, and
appends one JSONL line per finished dialogue so that an interrupted run resumes where it stopped.
"""

from cm2.annotate.compress import CompressResult, CotCompressor
from cm2.annotate.config import (
    AnnotateConfig,
    AnnotateSamplingConfig,
    CompressConfig,
    LabelConfig,
    LLMFilterConfig,
    ReferenceLabelConfig,
    ValidationConfig,
)
from cm2.annotate.filtering import DialogueFilter, FilterResult
from cm2.annotate.jobs import JobIO, JobReport, compress_job, filter_job, label_job, reference_label_job
from cm2.annotate.labeler import ChecklistLabeler, LabelResult
from cm2.annotate.reference import label_from_reference
from cm2.annotate.validate import checklist_problems
from cm2.annotate.valueflow import value_flow

__all__ = [
    "AnnotateConfig",
    "AnnotateSamplingConfig",
    "ChecklistLabeler",
    "CompressConfig",
    "CompressResult",
    "CotCompressor",
    "DialogueFilter",
    "FilterResult",
    "JobIO",
    "JobReport",
    "LLMFilterConfig",
    "LabelConfig",
    "LabelResult",
    "ReferenceLabelConfig",
    "ValidationConfig",
    "checklist_problems",
    "compress_job",
    "filter_job",
    "label_from_reference",
    "label_job",
    "reference_label_job",
    "value_flow",
]

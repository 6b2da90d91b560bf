"""One exception root for medmap. Every error a user can cause is a MedmapError subclass whose
message names what is wrong (file, line, field, layer, model) in one paragraph."""


class MedmapError(Exception):
    """Root of every error medmap raises on purpose."""


class ConceptError(MedmapError, ValueError):
    """A concept set (file, item or field) is invalid."""


class ModelError(MedmapError):
    """A model cannot be found, loaded, or mapped onto the architecture registry."""


class CaptureError(MedmapError):
    """Capture or intervention failed (non-finite activations, bad layer index, ...)."""


class ConfigError(MedmapError, ValueError):
    """An option or configuration file is invalid."""


class CacheError(MedmapError):
    """A cached result is missing, corrupted or does not match its manifest."""


class DistributedError(MedmapError):
    """A torchrun launch is misconfigured, or a rank failed while the others waited for it."""


class NumericalError(MedmapError, FloatingPointError):
    """A computation gave non-finite numbers (an overflow in a low-precision dtype, broken weights)."""


class RunFolderError(MedmapError):
    """A run folder cannot be used: not a medmap folder, not writable, in use by another medmap, ..."""


PLOT_MODULES = ("matplotlib", "plotly")
"""What the ``plot`` extra installs."""


def plot_skipped(what: str, e: ImportError) -> str:
    """The one-line note of figures or a report skipped for ``e``: names the ``plot`` extra only when
    what is missing is one of its modules (any other ImportError is a defect to report as it is)."""
    missing = (getattr(e, "name", None) or "").split(".")[0]
    hint = " (install medmap[plot])" if missing in PLOT_MODULES else ""
    return f"{what} skipped: {e}{hint}"

"""The run configuration: every option of ``medmap run`` in one validated object.

:class:`RunConfig` checks every value when it is built (types, ranges, enums, unknown keys), so a bad
config is refused with one line naming the key path (``run.yaml: analyze.geometry.n_neighbors: must be
>= 2 (got -1)``) before any model loads and before anything is written. :func:`load_config` reads a
YAML file (safe loader; a document that expands beyond :data:`MAX_CONFIG_NODES` values through YAML
aliases is refused), lays the command-line overrides over it and validates the result; an error in an
overridden value names the flag (``--seed``) instead of the file.

What is hashed: :meth:`RunConfig.digest` is the hash of the resolved options (the run folder's
default name). Where the weights are kept (``device_map``, ``max_memory``, ``offload_folder``) and
``trust_remote_code`` are not hashed: they change no result. The identity of a finished run
(:meth:`RunConfig.identity`) adds what the options do not say: the content hash of every concept set
(not the file's path), the model's identity (its weights) and :data:`medmap.store.schema.RESULTS_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from medmap.analyses.runner import CONTROLS, AnalyzeOptions
from medmap.concepts.domains import DOMAIN_NAME, default_domains, domain_order
from medmap.errors import ConfigError, ModelError
from medmap.maps.rules import MapRules
from medmap.options import MAX_SEED, Bool, Int, Str, describe_errors, options
from medmap.store.schema import RESULTS_VERSION, TECHNIQUE_VERSIONS
from medmap.techniques import TECHNIQUES

__all__ = ["MAX_CONFIG_NODES", "RunConfig", "config_from_dict", "load_config"]

MAX_CONFIG_NODES = 10_000
"""Most values (mappings, lists and scalars, counted with YAML aliases expanded) a config may hold."""
MAX_CONFIG_DEPTH = 32
"""Deepest nesting of mappings and lists a config may have."""

PLACEMENT = ("device_map", "max_memory", "offload_folder")
"""Options that say where the weights are kept: they change no result and are not hashed."""
UNHASHED = PLACEMENT + ("trust_remote_code", "cache")


def _names(value: Any) -> Any:
    """Domains or techniques: a comma-separated string becomes a tuple of stripped names."""
    if isinstance(value, str):
        return tuple(x.strip() for x in value.split(",") if x.strip())
    return value


@options(name="config")
class RunConfig:
    model: Str = Field("smollm2-135m", min_length=1)
    """Bundled model name, local HF folder, .gguf file, or hub id."""
    concepts: Str | None = None
    """A user JSONL concept file instead of the built-in sets."""
    domains: tuple[Str, ...] | None = Field(None, min_length=1)
    """Domains to map (a list, or a comma-separated string); None = every built-in medical domain, or
    every domain of the ``concepts`` file. Without a concepts file they must be built-in domains."""
    techniques: tuple[Literal[TECHNIQUES], ...] = Field(TECHNIQUES, min_length=1)
    """Techniques to run."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """float32, bfloat16 or float16."""
    device_map: Str | dict[Str, Str | Int] | None = None
    """Passed to transformers/accelerate (e.g. 'auto', or a JSON object module -> device) for models
    larger than one device. Not hashed."""
    max_memory: Str | dict[Str | Int, Str | Int] | None = None
    """Per-device memory for the device map, e.g. {0: '20GiB', cpu: '60GiB'} or '0=20GiB,cpu=60GiB'.
    Not hashed."""
    offload_folder: Str | None = None
    """Where accelerate writes the weights a device map places on 'disk'. Not hashed."""
    cache: Str | None = None
    """Folder of the content-addressed cache of stage results (default: ``cache/`` in the run folder); a
    shared one lets runs in other folders, and in-memory maps, reuse each other's results. Not hashed."""
    trust_remote_code: Bool = False
    """Let transformers run the model repository's own Python code (hub models that need it). Off by
    default; not hashed (it decides whether such a model loads, not what it computes)."""
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    """Seed of every random choice (UMAP, bootstrap, item sampling)."""
    seeds: Int = Field(1, ge=1, le=1000)
    """Robustness: with N > 1 the run also maps seeds seed+1 ... seed+N-1 and reports how much each
    interval moves across the N seeds (robustness.json/.csv). The main map always uses ``seed``."""
    paraphrases: Bool = False
    """Robustness: also map each prompt template (the items' ``template`` field) on its own and report
    how much each interval moves across phrasings."""
    analyze: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    """Options of the techniques (pooling, geometry, causal, judge)."""
    controls: tuple[Literal[CONTROLS], ...] = ()
    """Opt-in controls (a list, or a comma-separated string): random_init (the geometry of the same
    architecture with re-initialised weights, seeded with ``analyze.geometry.seed``: rows
    ``M@random_init``)."""
    map_rules: MapRules = Field(default_factory=MapRules)
    """The map rules (sigma, rise_window, percentile, min_run, max_runs); the paper's by default."""

    @field_validator("domains", "techniques", "controls", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("domains", "techniques")
    @classmethod
    def _distinct(cls, value: tuple | None) -> tuple | None:
        if value is not None and len(set(value)) != len(value):
            dup = next(v for v in value if value.count(v) > 1)
            raise PydanticCustomError("duplicate", "names {name} more than once", {"name": repr(dup)})
        return value

    @field_validator("domains")
    @classmethod
    def _domain_names(cls, value: tuple | None, info: ValidationInfo) -> tuple | None:
        for name in value or ():
            if not DOMAIN_NAME.match(name):
                raise PydanticCustomError("domain", "{name} is not a domain name (letters, digits, '_', '-')",
                                          {"name": repr(name)})
        unknown = [d for d in value or () if d not in domain_order()]
        if unknown and info.data.get("concepts") is None:  # a concept file may name any domain
            raise PydanticCustomError(
                "domain", "unknown domain(s) {names}; choose from {known} (or give a concept file with --concepts)",
                {"names": ", ".join(unknown), "known": ", ".join(domain_order())})
        return value

    @field_validator("device_map", mode="before")
    @classmethod
    def _device_map_json(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                return json.loads(value)
            except ValueError as e:
                raise PydanticCustomError("json", "is not valid JSON ({error})", {"error": str(e)}) from None
        return value

    @field_validator("max_memory")
    @classmethod
    def _max_memory_parses(cls, value: Any) -> Any:
        from medmap.models.loader import parse_max_memory

        try:
            parse_max_memory(value)
        except ModelError as e:
            raise PydanticCustomError("max_memory", "{error}", {"error": str(e)}) from None
        return value

    def to_dict(self) -> dict:
        """The resolved config as plain JSON (``config.json``). ``map_rules`` lists only the rules that
        differ from the paper's; ``domains`` None is written as the built-in domains when no concept
        file is given."""
        d = asdict(self)
        d["domains"] = list(self.domains) if self.domains is not None else (
            None if self.concepts else list(default_domains()))
        d["techniques"] = list(self.techniques)
        d["controls"] = list(self.controls)
        default = asdict(MapRules())
        d["map_rules"] = {k: v for k, v in d["map_rules"].items() if v != default[k]}
        return d

    @property
    def rules(self) -> MapRules:
        return self.map_rules

    @property
    def robustness(self) -> bool:
        return self.seeds > 1 or self.paraphrases

    def hashed(self, robustness: bool = True) -> dict:
        """The options that count for the digest: placement and trust_remote_code left out (device_map
        kept as null, so digests of configs written before it was left out do not change); with
        ``robustness=False``, or at their defaults, the robustness options are left out too."""
        d = self.to_dict()
        d["device_map"] = None
        for k in UNHASHED:
            if k != "device_map":
                d.pop(k, None)
        if not d["controls"]:
            d.pop("controls")  # configs written before controls existed keep their digest
        if not (robustness and self.robustness):
            d.pop("seeds")
            d.pop("paraphrases")
        return d

    def digest(self, robustness: bool = True) -> str:
        """Hash of the resolved options. Where the weights are kept never counts. With
        ``robustness=False`` (the run folder's name) the robustness options are left out, so adding
        ``--seeds`` to a run reuses its folder and cache; left at their defaults they never count, so
        configs written before they existed keep their digest."""
        return _sha(self.hashed(robustness))

    def identity(self, concept_hashes: dict[str, str], model_identity: str) -> str:
        """What a finished run's results depend on: the hashed options with the concept file's path
        replaced by the content hash of each concept set, the model's identity (its weights, config
        and, for a hub model, the commit), and the results-format version (with the techniques' own
        versions, :data:`medmap.store.schema.TECHNIQUE_VERSIONS`)."""
        d = self.hashed(robustness=True)
        d["concepts"] = dict(sorted(concept_hashes.items()))
        d["model_identity"] = model_identity
        d["results_version"] = RESULTS_VERSION
        if TECHNIQUE_VERSIONS:
            d["technique_versions"] = TECHNIQUE_VERSIONS
        return _sha(d)


def _sha(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def check_size(obj: Any, where: str, limit: int = MAX_CONFIG_NODES, depth: int = MAX_CONFIG_DEPTH) -> None:
    """Refuse a document that holds more than ``limit`` values once YAML aliases are expanded (an alias
    bomb: a few lines that expand to billions of values), or nests deeper than ``depth``. Counts
    without expanding anything, and stops at the limit."""
    count = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        node, level = stack.pop()
        count += 1
        if count > limit:
            raise ConfigError(f"{where}: the config holds more than {limit} values (YAML aliases expanding "
                              "to a huge document?); refusing it")
        if level > depth:
            raise ConfigError(f"{where}: the config nests deeper than {depth} levels; refusing it")
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
            stack.extend((k, level + 1) for k in node.keys())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, level + 1) for v in node)


def config_from_dict(d: Any, where: str = "config", overridden: tuple[str, ...] = ()) -> RunConfig:
    """A validated RunConfig from a mapping of options (as in a YAML file). The top-level ``seed`` is
    the default seed of the geometry, causal and judge options. Errors name ``where`` and the key path;
    for a key in ``overridden`` (set on the command line) they name the flag ``--key`` instead."""
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: the config must be a mapping of options, not {type(d).__name__}")
    check_size(d, where)
    d = dict(d)
    seed = d.get("seed", 0)
    valid_seed = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED
    analyze = d.get("analyze")
    if isinstance(analyze, dict) and valid_seed:
        analyze = dict(analyze)
        for key in ("geometry", "causal", "judge"):
            sub = analyze.get(key, {})
            if sub is None:
                sub = {}
            if isinstance(sub, dict):
                analyze[key] = {"seed": seed, **sub}
        d["analyze"] = analyze
    elif "analyze" not in d and valid_seed and seed != 0:
        d["analyze"] = {k: {"seed": seed} for k in ("geometry", "causal", "judge")}
    elif d.get("analyze", 0) is None:
        d.pop("analyze")
    if d.get("map_rules", 0) is None:
        d.pop("map_rules")
    try:
        return TypeAdapter(RunConfig).validate_python(d)
    except ValidationError as e:
        raise ConfigError(_describe(e, where, overridden)) from None


def _describe(err: ValidationError, where: str, overridden: tuple[str, ...]) -> str:
    errors = err.errors()
    by_flag = [e for e in errors if e.get("loc") and e["loc"][0] in overridden]
    by_file = [e for e in errors if not (e.get("loc") and e["loc"][0] in overridden)]
    parts = [describe_errors(by_file, where, RunConfig)] if by_file else []
    for e in by_flag:  # "--seed: must be ..." rather than "options: seed: must be ..."
        flag = "--" + str(e["loc"][0]).replace("_", "-")
        text = describe_errors([{**e, "loc": tuple(e["loc"][1:])}], flag, RunConfig)
        parts.append(text.replace(f"{flag}: (top level): ", f"{flag}: ", 1).replace(f"{flag}: [", f"{flag}[", 1))
    return "; ".join(parts)


def load_config(path: str | Path | None, overrides: dict) -> RunConfig:
    """The config of ``path`` (YAML; none = all defaults) with the non-None ``overrides`` (command-line
    flags) laid over it, validated."""
    d: dict = {}
    where = "options"
    if path:
        import yaml

        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read the config ({e})") from None
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({' '.join(str(e).split())})") from None
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: the config must be a mapping of options, not {type(d).__name__}")
        check_size(d, where)
    given = {k: v for k, v in overrides.items() if v is not None}
    d = {**d, **given}
    return config_from_dict(d, where, overridden=tuple(given))

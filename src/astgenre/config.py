"""Study configuration: presets, overlays and schema validation."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

FULL_STUDY = "ismir2004"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return base updated recursively by override (mappings merge, everything else is replaced)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def changed_keys(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The part of config that differs from defaults (what --config/--configfile changed)."""
    diff: dict[str, Any] = {}
    for key, value in config.items():
        default = defaults.get(key, _MISSING) if isinstance(defaults, Mapping) else _MISSING
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            sub = changed_keys(value, default)
            if sub:
                diff[key] = sub
        elif value != default:
            diff[key] = copy.deepcopy(value)
    return diff


_MISSING = object()


def resolve_study(
    config: Mapping[str, Any], defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Apply the preset named by config['study'] between the defaults and the user's overrides.

    Precedence, lowest first: config.yaml (defaults), the preset, then the user's --configfile and
    --config values (`overrides`; when not given, whatever in config differs from the defaults).
    The full study has no preset.
    """
    study = config.get("study", FULL_STUDY)
    presets = config.get("presets") or {}
    if study != FULL_STUDY and study not in presets:
        known = ", ".join([FULL_STUDY, *presets]) or FULL_STUDY
        raise ConfigError(f"config key 'study': unknown study {study!r}; choose one of: {known}")
    effective = deep_merge(defaults, presets.get(study, {}))
    return deep_merge(effective, changed_keys(config, defaults) if overrides is None else overrides)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra and error.schema.get("additionalProperties") is False:
            return ".".join(parts + [str(extra[0])])
    return ".".join(parts) or "<top level>"


def validate(config: Mapping[str, Any], schema_path: Path) -> None:
    """Validate config against the JSON schema; raise ConfigError naming every bad key."""
    md5 = (config.get("dataset") or {}).get("md5")
    if isinstance(md5, (int, float)) and not isinstance(md5, bool):
        raise ConfigError("config key 'dataset.md5': YAML read the checksum as a number; quote it: md5: \"0123...\"")
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = []
        for error in errors:
            key = _key_path(error)
            if error.validator == "additionalProperties":
                lines.append(f"  {key}: unknown key (check the spelling against config.yaml)")
            else:
                lines.append(f"  {key}: {error.message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    for variant in config["grid"]["variants"]:
        if variant not in config["variants"]:
            raise ConfigError(
                f"config key 'grid.variants': variant {variant!r} is not defined under 'variants' "
                f"(defined: {', '.join(config['variants'])})"
            )
    if config["dataset"]["url"] == "generated" and not config["dataset"].get("generate"):
        raise ConfigError("config key 'dataset.generate': required when dataset.url is 'generated'")
    model = config["model"]
    if not model.get("checkpoint") and not model.get("create"):
        raise ConfigError("config key 'model.checkpoint': set a checkpoint (or model.create for a local demo model)")


def load_study(
    config: Mapping[str, Any], defaults_path: Path, schema_path: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Resolve the preset and validate: the configuration every rule sees."""
    defaults = yaml.safe_load(Path(defaults_path).read_text())
    effective = resolve_study(config, defaults, overrides)
    validate(effective, schema_path)
    return effective


def variant_training(config: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """The training recipe of one variant: the global recipe with the variant's overrides."""
    spec = config["variants"][variant]
    recipe = deep_merge(config["training"], spec.get("training") or {})
    recipe["weighting"] = spec["weighting"]
    return recipe


def variant_excerpt(config: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """The excerpt {start, duration} a variant decodes: its own ``audio`` settings over the study's."""
    own = config["variants"][variant].get("audio") or {}
    return {key: own.get(key, config["audio"][key]) for key in ("start", "duration")}


def excerpt_key(excerpt: Mapping[str, Any]) -> str:
    """A folder name for an excerpt, the same for equal excerpts: 'middle_30s', '0s_10.255s', '0s_whole'."""
    start, duration = excerpt["start"], excerpt["duration"]
    start_part = "middle" if start == "middle" else f"{float(start):g}s"
    return f"{start_part}_{'whole' if duration is None else f'{float(duration):g}s'}"


def study_excerpts(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every distinct excerpt the grid's variants need, by key: each is decoded and featurised once."""
    return {excerpt_key(e): e for e in (variant_excerpt(config, v) for v in config["grid"]["variants"])}

"""Study configuration: presets (workflow/presets/<study>.yaml), schema validation, per-variant settings."""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .contracts import BASELINE_NAMES

FULL_STUDY = "ismir2004"
PRESETS_DIR = Path("workflow") / "presets"
"""Preset files, one per study other than the full study, relative to the workflow's base directory."""
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


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
            elif error.validator in ("oneOf", "anyOf") and error.schema.get("description"):
                lines.append(f"  {key}: {error.instance!r} is not allowed here: {error.schema['description']}")
            else:
                lines.append(f"  {key}: {error.message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    lists = {"grid.variants": config["grid"]["variants"]}
    lists.update({f"protocols.{name}.variants": p["variants"] for name, p in (config.get("protocols") or {}).items()})
    for key, variants in lists.items():
        for variant in variants:
            if variant not in config["variants"]:
                raise ConfigError(
                    f"config key '{key}': variant {variant!r} is not defined under 'variants' "
                    f"(defined: {', '.join(config['variants'])})"
                )
    clashes = sorted(set(config["variants"]) & set(BASELINE_NAMES))
    if clashes:
        raise ConfigError(
            f"config key 'variants': {', '.join(map(repr, clashes))} is a baseline system's name, and the baseline's "
            "runs are runs/<name>/seed0; rename the variant"
        )
    if config["dataset"]["url"] == "generated" and not config["dataset"].get("generate"):
        raise ConfigError("config key 'dataset.generate': required when dataset.url is 'generated'")
    model = config["model"]
    if not model.get("checkpoint") and not model.get("create"):
        raise ConfigError("config key 'model.checkpoint': set a checkpoint (or model.create for a local demo model)")


def preset_file(study: str, base_dir: Path) -> Path | None:
    """The preset file of a study (workflow/presets/<study>.yaml), None for the full study.

    The Snakefile loads it with a second ``configfile:`` directive, over config.yaml and under the user's
    --configfile/--config values (Snakemake re-applies those on top). Raises ConfigError for an unknown study.
    """
    if study == FULL_STUDY:
        return None
    presets = Path(base_dir) / PRESETS_DIR
    path = presets / f"{study}.yaml"
    if not isinstance(study, str) or not path.is_file():
        known = ", ".join([FULL_STUDY, *sorted(p.stem for p in presets.glob("*.yaml"))])
        raise ConfigError(f"config key 'study': unknown study {study!r}; choose one of: {known}")
    return path


def read_study(base_dir: Path, study: str = FULL_STUDY, overlays: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The configuration of a study as the workflow sees it, for Python callers (tests, benchmarks).

    config.yaml, then the study's preset, then each overlay, merged in that order as Snakemake merges the
    ``configfile:`` directives and --configfile/--config values; validated.
    """
    base_dir = Path(base_dir)
    config = yaml.safe_load((base_dir / "config.yaml").read_text())
    preset = preset_file(study, base_dir)
    for overlay in [{"study": study}, yaml.safe_load(preset.read_text()) if preset else {}, *overlays]:
        config = deep_merge(config, overlay or {})
    return load_study(config, base_dir / SCHEMA)


def load_study(config: Mapping[str, Any], schema_path: Path) -> dict[str, Any]:
    """Type the values that Snakemake passed as strings (nested --config values) by the schema, then validate the
    merged configuration; return it as every rule sees it."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    effective = coerce_overrides(copy.deepcopy(dict(config)), schema)
    validate(effective, schema_path)
    return effective


# --------------------------------------------------------------------------- typing of command-line values

_JSON_TYPES = {"null": (type(None),), "boolean": (bool,), "integer": (int,), "number": (int, float), "string": (str,)}


def coerce_overrides(values: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Values with their string leaves typed by the schema, as YAML would have typed them in a config file.

    Snakemake passes nested ``--config`` values (``training={epochs: 5}``) as strings. A string leaf becomes the
    YAML value it spells (``5``, ``1.0e-5``, ``true``, ``null``) when the schema allows that value there, or a number
    written without a dot (``1e-5``) where only numbers are allowed; any other string is kept, so that validation
    still rejects it (``'five' is not of type 'integer'``). Leaves the schema declares no type for are left as they
    are. ``values`` itself is not changed.
    """
    return _coerce(dict(values), schema, schema)


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    """Follow local ``$ref``s ("#/$defs/name")."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _child(node: Any, key: str, root: Mapping[str, Any]) -> Any:
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return None
    properties = node.get("properties") or {}
    if key in properties:
        return properties[key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _coerce(value: Any, node: Any, root: Mapping[str, Any]) -> Any:
    node = _resolve(node, root)
    if isinstance(value, Mapping):
        return {key: _coerce(item, _child(node, key, root), root) for key, item in value.items()}
    if isinstance(value, list):
        items = node.get("items") if isinstance(node, Mapping) else None
        return [_coerce(item, items, root) for item in value]
    if isinstance(value, str):
        return _typed_string(value, node, root)
    return value


def _allows(node: Any, value: Any, root: Mapping[str, Any]) -> bool | None:
    """Whether the schema node allows ``value`` by type, const or enum alone; None when it does not say."""
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return None
    for key in ("oneOf", "anyOf"):
        if key in node:
            answers = [_allows(option, value, root) for option in node[key]]
            return None if None in answers else any(answers)
    if "const" in node:
        return _same(node["const"], value)
    if "enum" in node:
        return any(_same(option, value) for option in node["enum"])
    if "type" not in node:
        return None
    types = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
    return any(_is_type(value, t) for t in types)


def _is_type(value: Any, json_type: str) -> bool:
    if isinstance(value, bool):
        return json_type == "boolean"
    return isinstance(value, _JSON_TYPES.get(json_type, ()))


def _same(expected: Any, value: Any) -> bool:
    return type(expected) is type(value) and expected == value


def _typed_string(text: str, node: Any, root: Mapping[str, Any]) -> Any:
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = text
    if (parsed is None or isinstance(parsed, (bool, int, float))) and _allows(node, parsed, root):
        return parsed  # what the same text means in a config file, and allowed here
    if _allows(node, text, root) is not False:
        return text  # a string is fine here, or the schema does not say
    try:
        number = float(text)  # YAML 1.1 wants a dot in floats: "1e-5" stays a string there
    except ValueError:
        return text
    return number if math.isfinite(number) and _allows(node, number, root) else text


# --------------------------------------------------------------------------- rule names


def check_resource_rules(resources: Mapping[str, Any], rule_names: Collection[str]) -> None:
    """Raise ConfigError for a key of ``resources`` that is not one of ``rule_names`` (rules taking their resources
    from the config), suggesting the closest name."""
    for name in resources:
        if name in rule_names:
            continue
        close = difflib.get_close_matches(str(name), sorted(rule_names), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"config key 'resources.{name}': no rule {name!r} takes resources from the config; {hint}"
            f"the rules that do: {', '.join(sorted(rule_names))}"
        )


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


def study_variants(config: Mapping[str, Any]) -> list[str]:
    """Every variant some run of the study uses: the grid's, then the protocols' (first appearance order)."""
    protocols = (config.get("protocols") or {}).values()
    return list(dict.fromkeys([*config["grid"]["variants"], *(v for p in protocols for v in p["variants"])]))


def protocol_runs(config: Mapping[str, Any]) -> list[tuple[str, int, str, int]]:
    """(protocol, fold, variant, seed) of every run beyond the official grid."""
    return [
        (name, fold, variant, seed)
        for name, settings in (config.get("protocols") or {}).items()
        for fold in range(settings.get("folds", 1))
        for variant in settings["variants"]
        for seed in settings["seeds"]
    ]


def baseline_excerpt(config: Mapping[str, Any]) -> dict[str, Any]:
    """The excerpt the baselines read: the study's own (``audio.start``, ``audio.duration``)."""
    return {key: config["audio"][key] for key in ("start", "duration")}


def study_excerpts(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every distinct excerpt the study's variants (and baselines) need, by key: each is decoded and featurised
    once."""
    excerpts = [variant_excerpt(config, v) for v in study_variants(config)]
    if config.get("baselines"):
        excerpts.append(baseline_excerpt(config))
    return {excerpt_key(e): e for e in excerpts}

#!/usr/bin/env python3
"""Checks each role's contract: every variable of defaults/main.yml is an option of
meta/argument_specs.yml, and every option that is not required has a `default:`
equal to its defaults/main.yml value (an expression there is `!unsafe` in the spec,
so that the validation task does not evaluate it). scripts/lint-ansible.sh runs it.
Exit status: 0 clean, 1 findings."""
import pathlib
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-role-specs: PyYAML is missing (apt-get install python3-yaml)")


class Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's !unsafe as the plain value."""


def _unsafe(loader, node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


Loader.add_constructor("!unsafe", _unsafe)


def load(path):
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=Loader) or {}


def main():
    roles_dir = pathlib.Path(__file__).resolve().parent.parent / "playbooks" / "roles"
    problems = []
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        spec_file = role / "meta" / "argument_specs.yml"
        defaults_file = role / "defaults" / "main.yml"
        if not spec_file.exists():
            problems.append(f"{role.name}: no meta/argument_specs.yml")
            continue
        options = load(spec_file).get("argument_specs", {}).get("main", {}).get("options", {})
        defaults = load(defaults_file) if defaults_file.exists() else {}
        for name in defaults:
            if name not in options:
                problems.append(f"{role.name}: {name} is in defaults/main.yml but not in meta/argument_specs.yml")
        for name, option in options.items():
            if option.get("required"):
                continue
            if "default" not in option:
                problems.append(f"{role.name}: optional {name} has no default: in meta/argument_specs.yml")
            elif name not in defaults:
                problems.append(f"{role.name}: optional {name} is not in defaults/main.yml")
            elif option["default"] != defaults[name]:
                problems.append(f"{role.name}: {name}: default {option['default']!r} in the spec, {defaults[name]!r} in defaults/main.yml")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

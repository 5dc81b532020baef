#!/usr/bin/env python3
"""Expands the recipes of an Arduino platform (platform.txt + boards.txt).

Used by scripts/check-esp8266-core.sh. It does what the Arduino builder does
with the two files, and nothing else:

- the platform's properties, then the board's (the "<board>." prefix
  dropped), then for every menu of the board the first option listed
  (the IDE's default) unless --menu picks another one;
- --set KEY=VALUE for the properties the builder itself defines
  (build.path, runtime.platform.path, ...), applied last;
- {name} placeholders expanded until nothing changes;
- a recipe split into arguments as the builder splits it: on spaces, a
  token that starts with a quote runs to the closing quote and loses its
  quotes, any other token is kept as written (so -DX="y" keeps its quotes
  and stays a string macro).

Output: one line per recipe asked for, each argument shell-quoted, for
`eval "arr=($line)"`. Placeholders that name a per-file value ({source_file},
{object_file}, {includes}, {object_files}, {archive_file_path}) stay as
they are, as separate arguments where the recipe has them alone; any other
placeholder left unexpanded is an error.

Commands: `recipe NAME...` prints recipes; `get KEY...` prints values;
`shell VAR:RECIPE... VAR=KEY...` prints bash assignments (an array of the
recipe's arguments, or the expanded value); `menus` the menu choices.
"""
import argparse
import re
import shlex
import sys

PER_FILE = {"source_file", "object_file", "includes", "object_files",
            "archive_file_path", "archive_file"}


def read_props(path):
    props = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def board_props(boards_path, board, menu_choice):
    """The board's own properties with its menus at their defaults."""
    order = []  # (key, value) in file order
    with open(boards_path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            order.append((key.strip(), value.strip()))
    prefix = board + "."
    plain = {}
    menus = {}     # menu -> {option -> {key: value}}
    first = {}     # menu -> first option in file order
    for key, value in order:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.startswith("menu."):
            parts = rest.split(".", 3)
            if len(parts) < 3:
                continue
            menu, option = parts[1], parts[2]
            first.setdefault(menu, option)
            opts = menus.setdefault(menu, {}).setdefault(option, {})
            if len(parts) == 4:
                opts[parts[3]] = value
        else:
            plain[rest] = value
    if not plain:
        sys.exit(f"arduino_props: no board {board!r} in {boards_path}")
    chosen = {}
    for menu, option in first.items():
        chosen[menu] = menu_choice.get(menu, option)
    for menu, option in menu_choice.items():
        if menu not in menus or option not in menus[menu]:
            sys.exit(f"arduino_props: board {board} has no menu option {menu}={option}")
    result = dict(plain)
    for menu, option in chosen.items():
        result.update(menus[menu].get(option, {}))
    return result, chosen


PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")


def expand(value, props):
    for _ in range(20):
        new = PLACEHOLDER.sub(
            lambda m: props[m.group(1)] if m.group(1) in props else m.group(0),
            value)
        if new == value:
            return new
        value = new
    return value


def split_quoted(command):
    """The builder's split: quotes only group at the start of a token."""
    args = []
    i, n = 0, len(command)
    while i < n:
        while i < n and command[i] == " ":
            i += 1
        if i >= n:
            break
        if command[i] in "\"'":
            quote = command[i]
            end = command.find(quote, i + 1)
            if end < 0:
                sys.exit(f"arduino_props: unbalanced quote in: {command}")
            token = command[i + 1:end]
            i = end + 1
        else:
            end = command.find(" ", i)
            if end < 0:
                end = n
            token = command[i:end]
            i = end
        if token:
            args.append(token)
    return args


def recipe_args(name, value):
    tokens = split_quoted(value)
    for tok in tokens:
        for m in PLACEHOLDER.finditer(tok):
            if m.group(1) not in PER_FILE:
                sys.exit(f"arduino_props: {name}: {{{m.group(1)}}} is not defined")
    return " ".join(shlex.quote(t) for t in tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--platform", required=True)
    ap.add_argument("--boards", required=True)
    ap.add_argument("--board", default="generic")
    ap.add_argument("--menu", action="append", default=[],
                    help="MENU=OPTION (else the first option of the menu)")
    ap.add_argument("--set", action="append", default=[],
                    help="KEY=VALUE, applied after platform and board")
    ap.add_argument("command", choices=["recipe", "get", "shell", "menus"])
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()

    props = read_props(args.platform)
    choice = dict(m.split("=", 1) for m in args.menu)
    bprops, chosen = board_props(args.boards, args.board, choice)
    props.update(bprops)
    for kv in args.set:
        key, value = kv.split("=", 1)
        props[key] = value

    if args.command == "menus":
        for menu, option in sorted(chosen.items()):
            print(f"{menu}={option}")
        return
    if args.command == "shell":
        for spec in args.names:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)([:=])(.+)$", spec)
            if not m:
                sys.exit(f"arduino_props: bad spec {spec!r}")
            var, kind, name = m.groups()
            value = expand(props.get(name, ""), props)
            if kind == "=":
                print(f"{var}={shlex.quote(value)}")
                continue
            if name not in props:
                sys.exit(f"arduino_props: no property {name}")
            print(f"{var}=({recipe_args(name, value)})")
        return
    for name in args.names:
        if name not in props:
            if args.command == "get":
                print("")
                continue
            sys.exit(f"arduino_props: no property {name}")
        value = expand(props[name], props)
        if args.command == "get":
            print(value)
            continue
        print(recipe_args(name, value))


if __name__ == "__main__":
    main()

"""``python -m npnet.bugs [NAME ...]``: print a catalogued bug's diff and symptoms (all bugs without a name)."""
import sys

from npnet.bugs import catalogue, symptoms


def main(names: list[str]) -> None:
    for bug in [catalogue.get(name) for name in names] or catalogue.CATALOGUE:
        print(f"== {bug.name}: {bug.title}\n{bug.diff()}\n{symptoms.report(bug)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])

"""``python -m npnet.bugs [NAME ...]``: print a catalogued bug's diff and symptoms (all bugs without a name)."""
import sys

from npnet.bugs import catalogue, symptoms

for bug in [catalogue.get(name) for name in sys.argv[1:]] or catalogue.CATALOGUE:
    print(f"== {bug.name}: {bug.title}\n{bug.diff()}\n{symptoms.report(bug)}\n")

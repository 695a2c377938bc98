"""Rewrite docs/bugs.md's quoted diffs and outputs from the current code, keeping its prose.

When npnet's code moves, tests/repo/test_bugs.py fails on a stale diff or output;
run this (with TensorFlow installed), read the changes with ``git diff
docs/bugs.md`` and check that the prose still says what the numbers say.
A bug whose patch no longer applies raises here, naming the line to update
in npnet/bugs/catalogue.py.

Run: python scripts/update_bugs_md.py
"""
import re
from pathlib import Path

from npnet.bugs import catalogue, symptoms

PATH = Path(__file__).resolve().parent.parent / "docs" / "bugs.md"


def updated_section(text: str) -> str:
    name = re.match(r"\d+\. `(\S+)`\n", text)
    if not name:
        return text
    bug = catalogue.get(name.group(1))
    text = re.sub(r"^```diff\n.*?^```", lambda _: f"```diff\n{bug.diff()}\n```", text, count=1, flags=re.M | re.S)
    report = symptoms.report(bug)
    return re.sub(r"^```text\n.*?^```", lambda _: f"```text\n{report}\n```", text, count=1, flags=re.M | re.S)


sections = re.split(r"(?m)^## ", PATH.read_text())
PATH.write_text("## ".join([sections[0], *map(updated_section, sections[1:])]))
print(f"rewrote the diffs and outputs of {len(sections) - 1} sections of {PATH}")

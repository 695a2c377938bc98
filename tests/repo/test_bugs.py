"""docs/bugs.md is what npnet.bugs prints: every diff and every output regenerated and compared, line by line."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

from npnet import activations
from npnet.bugs import Bug, Patch, catalogue, symptoms
from npnet.callbacks import LambdaCallback
from npnet.layers.dense import Dense
from test_docs import ROOT, anchors, fenced_blocks

BUGS_MD = ROOT / "docs" / "bugs.md"


def section(name: str) -> str:
    """The text of docs/bugs.md's section ``## <i>. `name` `` (up to the next section)."""
    sections = re.split(r"^## ", BUGS_MD.read_text(), flags=re.M)
    found = [text for text in sections if re.match(rf"\d+\. `{re.escape(name)}`\n", text)]
    assert len(found) == 1, f"docs/bugs.md needs exactly one section for the bug {name!r}"
    return found[0]


def blocks(text: str, info: str) -> list[str]:
    return [body.rstrip("\n") for kind, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)
            if kind == info]


def test_the_catalogue_has_a_dozen_bugs_in_the_doc_in_its_order():
    names = [bug.name for bug in catalogue.CATALOGUE]
    assert len(names) >= 12 and len(set(names)) == len(names)
    assert re.findall(r"^## \d+\. `(\S+)`$", BUGS_MD.read_text(), flags=re.M) == names
    assert re.findall(r"^\| \[`(\S+)`\]", BUGS_MD.read_text(), flags=re.M) == names   # the summary table


@pytest.mark.parametrize("bug", catalogue.CATALOGUE, ids=lambda bug: bug.name)
def test_each_bug_in_the_doc_is_what_npnet_bugs_prints(bug: Bug, keras):
    text = section(bug.name)
    assert blocks(text, "diff") == [bug.diff()], f"the diff of {bug.name} in docs/bugs.md is stale"
    report = symptoms.report(bug)
    assert blocks(text, "text") == [report], f"the output of {bug.name} in docs/bugs.md is stale:\n{report}"
    # the summary table says what the report says
    curve, gradcheck_line, trace_line, parity_line = (report.splitlines()[2], *report.splitlines()[3:])
    row = re.search(rf"^\| \[`{re.escape(bug.name)}`\]\S* \| (.+) \|$", BUGS_MD.read_text(), flags=re.M)
    expected = [curve.rsplit("  ", 1)[1], "catches" if "fails" in gradcheck_line else "**misses**",
                "catches" if "first difference" in trace_line else "**misses**",
                "**misses**" if "passes" in parity_line else "n/a" if "not comparable" in parity_line else "catches"]
    assert row and row.group(1).split(" | ") == expected
    # Keras catches every bug, and the trace names an array: what the page's conclusion rests on
    assert "first difference in" in trace_line and "passes" not in parity_line
    assert ("not comparable" in parity_line) == any(config["class_name"] == "Dropout"
                                                    for config in bug.model.get("inserted", ()))


FIT_BATCH, FIT_EPOCHS = 32, 2   # 4 steps: a second one for gradients-accumulate, two batches an epoch


def weights_after_training(bug: Bug, planted: bool, how: str) -> np.ndarray:
    """The bug's network after FIT_EPOCHS epochs of FIT_BATCH-row batches, in order, all weights in one vector.

    ``how``: "fit" (fit's fast path: the bias trick, ``Loss.gradient``), "fit with a batch hook" (the
    bias trick, the loss's forward and backward, batch by batch) or "train_on_batch" (the textbook path).
    """
    model, x, y = symptoms.setup(bug)
    with bug.planted() if planted else contextlib.nullcontext():
        if how == "train_on_batch":
            for _ in range(FIT_EPOCHS):
                for start in range(0, len(x), FIT_BATCH):
                    model.train_on_batch(x[start:start + FIT_BATCH], y[start:start + FIT_BATCH])
        else:
            hooks = [LambdaCallback(on_train_batch_end=lambda batch, logs: None)] if how != "fit" else []
            model.fit(x, y, batch_size=FIT_BATCH, epochs=FIT_EPOCHS, shuffle=False, verbose=0, callbacks=hooks)
    return np.concatenate([w.ravel() for w in model.get_weights()])


@pytest.mark.parametrize("bug", catalogue.CATALOGUE, ids=lambda bug: bug.name)
def test_each_bug_changes_what_fit_computes_as_it_changes_one_batch_at_a_time(bug: Bug):
    """fit runs lines of its own (Dense's [dW; db] in one product, Loss.gradient): a bug planted only in the
    textbook lines would leave fit, and the page's loss curve, the real code's. So each bug must move fit's
    weights, and fit's (with and without batch hooks) must be those of train_on_batch, to rounding.

    "Differ" and "agree" by the page's threshold, symptoms.DIFFERS of the largest weight: the paths sum the
    same float64 terms in other orders (the bias added among the product's terms), measured 1.3e-16 of it
    at most; the bugs move the weights by 2.5e-3 of it at least (softmax-gradient-off-by-K).
    """
    fit = weights_after_training(bug, planted=True, how="fit")
    tolerance = symptoms.DIFFERS * np.max(np.abs(fit))
    real = weights_after_training(bug, planted=False, how="fit")
    assert np.max(np.abs(fit - real)) > tolerance, f"{bug.name} does not change what fit computes"
    for how in ("fit with a batch hook", "train_on_batch"):
        other = weights_after_training(bug, planted=True, how=how)
        assert np.max(np.abs(fit - other)) <= tolerance, f"{bug.name}: fit and {how} train different bugs"


def test_gradcheck_misses_exactly_the_bugs_the_page_says_it_cannot_see():
    missed = {name for name, verdict in re.findall(r"^\| \[`(\S+)`\]\S* \| [^|]+ \| ([^|]+) \|", BUGS_MD.read_text(),
                                                   flags=re.M) if "misses" in verdict}
    assert missed == {"gradients-accumulate", "adam-no-bias-correction", "adamw-decay-in-the-gradient",
                      "momentum-sign", "leaky-relu-both-ways",
                      "loss-summed-both-ways"}   # optimizers, a stale buffer, forward and backward agreeing


def test_the_links_of_bugs_md_resolve():
    text = BUGS_MD.read_text()
    own = re.findall(r"\]\(#([\w-]+)\)", text)
    theirs = re.findall(r"\]\(backprop\.md#([\w-]+)\)", text)
    assert len(own) >= 12 and theirs
    assert set(own) <= anchors(BUGS_MD) and set(theirs) <= anchors(ROOT / "docs" / "backprop.md")


def test_planting_swaps_the_method_for_the_block_only():
    bug = catalogue.get("relu-mask-from-y")
    real = activations.ReLU.__dict__["mask_calls"]
    with pytest.raises(RuntimeError), bug.planted():
        assert activations.ReLU.__dict__["mask_calls"] is not real
        raise RuntimeError("an error inside the block")
    assert activations.ReLU.__dict__["mask_calls"] is real


def test_a_patch_that_no_longer_applies_says_so():
    stale = Patch(Dense, "backward", "np.matmul(x, self.W, out=z)", "z = x @ self.W")   # forward's line, not backward's
    with pytest.raises(LookupError, match=r"npnet/layers/dense.py \(Dense.backward\).*the code has changed"):
        stale.patched_source()
    with pytest.raises(LookupError), Bug("stale", "a stale bug", (stale,)).planted():
        pass
    assert Dense.__dict__["backward"].__module__ == "npnet.layers.dense"
    with pytest.raises(ValueError, match="unknown bug 'nope'"):
        catalogue.get("nope")


def test_python_m_npnet_bugs_prints_a_bugs_diff_and_symptoms(keras, capsys):
    from npnet.bugs.__main__ import main

    main(["momentum-sign"])
    bug = catalogue.get("momentum-sign")
    assert capsys.readouterr().out == f"== momentum-sign: {bug.title}\n{bug.diff()}\n{symptoms.report(bug)}\n\n"

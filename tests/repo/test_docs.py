"""The docs stay true: their code runs, their excerpts and names exist, their links resolve, the examples run."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npnet

ROOT = Path(__file__).resolve().parents[2]
BACKPROP = ROOT / "docs" / "backprop.md"
OPTIMIZERS = ROOT / "docs" / "optimizers.md"
DOCS = [BACKPROP, OPTIMIZERS]
EXCERPT = re.compile(r"^# excerpt from (\S+)")


def fenced_blocks(path: Path) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block in a Markdown file."""
    return re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), flags=re.M | re.S)


def anchors(path: Path) -> set[str]:
    """The GitHub anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def run_python_blocks(path: Path) -> dict:
    """Execute a page's Python blocks (not its excerpts) in order, in one namespace (returned); floatx restored."""
    namespace: dict = {}
    floatx = npnet.backend.floatx()
    try:
        for info, body in fenced_blocks(path):
            if info == "python" and not EXCERPT.match(body):
                exec(compile(body, str(path), "exec"), namespace)
    finally:
        npnet.backend.set_floatx(floatx)
    return namespace


def test_every_python_block_in_backprop_md_runs(sklearn, capsys):
    namespace = run_python_blocks(BACKPROP)
    printed = capsys.readouterr().out
    # the numbers the prose quotes are the numbers the blocks print
    assert "p = 1.0, loss clipped 15.9424, from logits 20.0000" in printed
    assert "dz through the clip: 0.0, from logits: 1.0" in printed
    assert "p_1 = 2.1e-09, loss through the clip 16.1181, from logits 20.0000" in printed
    assert "dz through the clip: [-0.0, -0.0, -0.0], from logits: [1.0, -1.0, 0.0]" in printed
    assert re.search(r"3 of 250 rows get no gradient through the clip; the others agree with the exact dz "
                     r"to 2\.3e-07, the fused dz to 2\.3e-07", printed)
    assert "batch norm backward passes at 1e-6: True" in printed
    assert re.search(r"batch_normalization\w*/input *\(16, 4\) +1\.76e-07 +9\.61e-10", printed)
    assert re.search(r"after 1 step\(s\): max \|w_keras - w_paper\| = 6\.8e-04", printed)
    assert re.search(r"after 10 step\(s\): max \|w_keras - w_paper\| = 1\.0e-03, median 8\.0e-07", printed)
    assert re.search(r"after 1 step\(s\): max \|w_keras - w_paper\| = 6\.8e-04, median 1\.7e-07", printed)
    # The tiny-gradient entry of the gradient check: its digits are rounding noise, which changes with
    # the CPU's BLAS kernel (1.2e-2 here, 4.2e-3 on Sandybridge's), so the test checks what the prose
    # says of it: a gradient at the noise level, a relative error beyond 1e-5, an absolute one within the noise.
    output_kernel = namespace["report"].checks[-2]
    index, relative = output_kernel.worst()
    assert output_kernel.shape == (8, 3) and relative > 1e-5 and abs(output_kernel.analytic[index]) < 1e-8
    assert output_kernel.absolute_errors[index] <= output_kernel.noise


def test_every_python_block_in_optimizers_md_runs_and_prints_the_table_it_quotes(sklearn, capsys):
    run_python_blocks(OPTIMIZERS)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    quoted = set(OPTIMIZERS.read_text().splitlines())
    assert len(printed) == 11   # header, rule, 9 optimizers
    missing = [line for line in printed if line not in quoted]
    assert not missing, f"docs/optimizers.md no longer quotes what its block prints: {missing}"


@pytest.mark.parametrize("doc, path, body", [
    (doc.name, EXCERPT.match(body).group(1), body) for doc in DOCS for info, body in fenced_blocks(doc)
    if EXCERPT.match(body)])
def test_every_excerpt_in_the_docs_is_in_its_source_file(doc, path, body):
    source = {line.strip() for line in (ROOT / path).read_text().splitlines()}
    missing = [line for line in body.splitlines()[1:] if line.strip() and line.strip() not in source]
    assert not missing, f"lines quoted in docs/{doc} are no longer in {path}: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_function_the_docs_name_exists(doc):
    names = set(re.findall(r"`(npnet(?:\.\w+)+)`", doc.read_text()))
    assert len(names) > 5
    for name in sorted(names):
        parts = name.split(".")
        for split in range(len(parts), 0, -1):      # the longest importable prefix, then attributes
            try:
                target = importlib.import_module(".".join(parts[:split]))
                break
            except ImportError:
                continue
        for attribute in parts[split:]:
            assert hasattr(target, attribute), f"docs/{doc.name} names {name}, which does not exist"
            target = getattr(target, attribute)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_link_to_a_docs_page_resolves(doc):
    known = anchors(doc)
    links = []
    for path in [*ROOT.glob("npnet/**/*.py"), *ROOT.glob("reference/*.py"), *ROOT.glob("examples/*.py"),
                 *ROOT.glob("tests/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]:
        links += [(path.name, anchor) for anchor in re.findall(rf"{doc.name}#([\w-]+)", path.read_text())]
    links += [(doc.name, anchor) for anchor in re.findall(r"\]\(#([\w-]+)\)", doc.read_text())]
    assert len(links) > 5
    broken = [(where, anchor) for where, anchor in links if anchor not in known]
    assert not broken, f"links to missing sections of docs/{doc.name}: {broken}"


def run_example(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_trace_excerpt_in_backprop_md_is_what_examples_trace_prints(sklearn):
    printed = set(run_example("examples/trace.py").splitlines())
    excerpt = [body for info, body in fenced_blocks(BACKPROP) if info == "text"][-1]
    missing = [line for line in excerpt.splitlines() if line not in printed]
    assert not missing, f"the trace quoted in docs/backprop.md is no longer what examples/trace.py prints: {missing}"


def test_the_custom_layer_example_checks_its_gradients():
    printed = run_example("examples/custom_layer.py")
    assert "leaky_relu/z" in printed and "(caught)" in printed
    assert "scale_shift/gamma" in printed and "ScaleShift" in printed


def test_the_trace_matches_keras_within_the_parity_tolerances(keras, sklearn):
    from npnet import testing, tutorial

    for dtype in ("float32", "float64"):
        npnet.backend.set_floatx(dtype)
        try:
            npnet.utils.set_random_seed(1)
            model = tutorial.tutorial_model()
        finally:
            npnet.backend.set_floatx("float32")
        data = tutorial.tutorial_data()
        x, y = data.x_train[:250], data.y_train[:250]
        trace = model.trace(x, y)
        differences = testing.compare_trace_with_keras(trace)
        tolerances = testing.DEFAULT_TOLERANCES[model.dtype]
        for key, difference in differences.items():
            array = key.split("/")[1]
            scale = np.max(np.abs(trace.layers[[l.name for l in model.layers].index(key.split("/")[0])]
                                  .arrays[array]))
            limit = {"x": tolerances.forward_rtol * scale, "z": tolerances.forward_rtol * scale, "y": tolerances.forward_rtol * scale,
                     "update_W": tolerances.weight_atol, "update_b": tolerances.weight_atol}.get(
                array, tolerances.gradient_atol)
            assert difference <= limit, f"{dtype} {key}: {difference:.3g} > {limit:.3g}"
        assert len(differences) == 35   # 9 arrays x 4 layers, less the sigmoid output's dy


def test_trace_leaves_the_model_unchanged_and_its_step_is_the_real_one(sklearn):
    from npnet import tutorial

    npnet.utils.set_random_seed(3)
    model = tutorial.tutorial_model()
    data = tutorial.tutorial_data()
    x, y = data.x_train[:250], data.y_train[:250]
    before = model.get_weights()
    trace = model.trace(x, y)
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    loss = model.train_on_batch(x, y)[0]
    assert trace.loss == loss
    for layer, record, (w_before, b_before) in zip(model.layers, trace.layers, zip(before[::2], before[1::2])):
        np.testing.assert_array_equal(record.arrays["update_W"], layer.kernel - w_before)
        np.testing.assert_array_equal(record.arrays["update_b"], layer.bias - b_before)
    with pytest.raises(ValueError, match="x must have 6 columns"):
        model.trace(x[:, :5], y)


def executed_outputs(notebooks, name: str) -> list:
    """Run examples/<name> as the tests' kernel would (raising on any error); every code cell's outputs."""
    nbformat, NotebookClient = notebooks
    notebook = nbformat.read(ROOT / "examples" / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)
    return outputs


def test_the_walkthrough_notebook_runs_and_draws_its_plots(sklearn, notebooks):
    outputs = executed_outputs(notebooks, "backprop_walkthrough.ipynb")
    printed = "".join(output.get("text", "") for output in outputs)
    assert "test binary accuracy" in printed
    assert "dz = (p - y) / N   max |by hand - npnet| =" in printed and "each row of p sums to 1" in printed
    assert "values of the mask: [0. 2.]" in printed and "dx = dy * mask  max |by hand - npnet| = 0.0" in printed
    assert "without the mean terms dx would be off by" in printed


def test_the_optimizers_notebook_trains_with_every_registered_optimizer_and_plots(sklearn, notebooks):
    printed = "".join(output.get("text", "") for output in executed_outputs(notebooks, "optimizers.ipynb"))
    for cls in npnet.optimizers.registered().values():
        assert re.search(rf"^{cls.__name__} +loss 0\.\d+ +val_loss", printed, flags=re.M), cls.__name__

"""./run-demo and ./run-tests pick their Python with scripts/venv.sh: checked against stub interpreters."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def stub(directory: Path, name: str, version: str | None) -> Path:
    """An executable that answers ``-c ...`` with ``version``, or fails as an unselected pyenv shim does."""
    path = directory / name
    body = f'echo "{version}"' if version else f'echo "pyenv: {name}: command not found" >&2; exit 127'
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def choose(tmp_path: Path, pythons: dict[str, str | None],
           python_env: str | None = None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, version in pythons.items():
        stub(bin_dir, name, version)
    env = {"PATH": str(bin_dir)} | ({"PYTHON": python_env} if python_env else {})
    return subprocess.run(["/bin/bash", "-c", f". '{ROOT}/scripts/venv.sh' && choose_python"], env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("pythons, chosen", [
    ({"python3.13": "3.13", "python3.12": "3.12", "python3": "3.11"}, "python3.13"),   # the newest supported
    ({"python3.13": None, "python3.12": "3.12", "python3.11": "3.11"}, "python3.12"),  # a shim that fails is skipped
    ({"python3.11": "3.11", "python3": "3.14"}, "python3.11"),   # 3.14: no TensorFlow 2.21 wheels
    ({"python3": "3.12"}, "python3"),
])
def test_the_first_supported_python_that_runs_is_chosen(tmp_path, pythons, chosen):
    result = choose(tmp_path, pythons)
    assert (result.returncode, result.stdout.strip()) == (0, chosen), result.stderr


def test_without_a_supported_python_it_says_what_it_tried_and_how_to_choose(tmp_path):
    result = choose(tmp_path, {"python3": "3.10", "python3.14": "3.14"})
    assert result.returncode == 1 and result.stdout == ""
    assert "no Python 3.11-3.13 found (tried python3.13, python3.12, python3.11, python3)" in result.stderr
    assert "set PYTHON=" in result.stderr


def test_python_from_the_environment_wins_and_is_checked(tmp_path):
    explicit = stub(tmp_path, "my-python", "3.12")
    assert choose(tmp_path, {"python3.13": "3.13"}, str(explicit)).stdout.strip() == str(explicit)
    too_new = stub(tmp_path, "new-python", "3.14")
    result = choose(tmp_path, {"python3.13": "3.13"}, str(too_new))
    assert result.returncode == 1 and "is Python 3.14; npnet's test suite runs on Python 3.11-3.13" in result.stderr
    result = choose(tmp_path, {"python3.13": "3.13"}, str(tmp_path / "missing"))
    assert result.returncode == 1 and "does not run" in result.stderr


def test_the_supported_range_is_the_one_pyproject_declares():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.14"' in pyproject
    assert 'SUPPORTED="3.11-3.13"' in (ROOT / "scripts" / "venv.sh").read_text()

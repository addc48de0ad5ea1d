"""The README stays true: every command is documented and has help with examples, and the
quick start's two commands still match the samples and what CI runs."""
import pathlib
import re

import pytest
from click.testing import CliRunner

from miner.cli import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quick_start_has_exactly_two_commands():
    cmds = quick_start_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)


def test_quick_start_demo_uses_shipped_samples_offline():
    demo = quick_start_commands()[0]
    assert "pip install ." in demo and "miner convert" in demo
    assert "--provider" not in demo  # offline default, no key needed
    for path in re.findall(r"samples/\S+", demo):
        assert (ROOT / path).exists(), path


def test_ci_runs_the_readme_test_command():
    test_cmd = quick_start_commands()[1].split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(test_cmd)}$", ci, re.M), f"{test_cmd!r} not run by .ci/run"
    assert 'pip install ".[test]"' in ci and "set -e" in ci


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_is_in_the_readme(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert cli.commands[name].help
    assert f"miner {name}" in README, f"`miner {name}` is not documented in README.md"

"""The command line: help, and clear errors instead of tracebacks."""

import subprocess
import sys


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tfspeech.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("zoo", "export", "corpus", "features", "demo"):
        assert command in result.stdout


def test_missing_subcommand_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr

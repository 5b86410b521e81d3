"""The README keeps its promises: the two commands first, every preset in the zoo table."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert first_block.split() == ["sh", "make", "demo", "make", "test"]


def test_zoo_table_lists_every_preset():
    table = README.split("## The zoo", 1)[1].split("\n## ", 1)[0]
    for preset in sorted((REPO / "zoo").glob("*/preset.json")):
        assert f"| `{preset.parent.name}` |" in table, f"README zoo table misses {preset.parent.name}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_tfspeech_commands_parse():
    """Every `tfspeech ...` line of the README's shell blocks is valid for the CLI's parser."""
    import shlex

    from tfspeech.cli import build_parser

    blocks = README.split("```")[1::2]
    lines = [line.split("#", 1)[0] for block in blocks if block.startswith("sh") for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("tfspeech ")]
    assert len(commands) >= 3
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # argparse exits (SystemExit) on a wrong option or a missing value

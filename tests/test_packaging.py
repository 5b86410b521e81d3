"""A non-editable ``pip install .`` ships every preset and the LiteRT runner."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CHECK = """
import json, sys
from pathlib import Path
from tfspeech import zoo
from tfspeech.runtime import litert_runner
names = zoo.list()
for name in names:
    zoo.load(name)
companions = []
for folder in sorted(Path(zoo.roots()[-1]).glob("*/*/preset.json")):  # presets inside a preset's folder
    zoo.load(folder.parent.name, root=folder.parent.parent)
    companions.append(f"{folder.parent.parent.name}/{folder.parent.name}")
print(json.dumps({"names": names, "companions": companions, "presets": str(zoo.roots()[-1]),
                  "runner": litert_runner.__file__}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed from a wheel into its own folder (dependencies from this venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return target


def test_wheel_ships_every_preset_and_the_runner(installed, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(installed), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    in_repo = sorted(p.parent.name for p in (REPO / "zoo").glob("*/preset.json"))
    assert found["names"] == in_repo
    assert found["companions"] == sorted(f"{p.parent.parent.name}/{p.parent.name}"
                                         for p in (REPO / "zoo").glob("*/*/preset.json"))
    assert Path(found["presets"]).is_relative_to(installed)
    assert Path(found["runner"]).is_relative_to(installed)


def test_setup_cfg_lists_every_subpackage():
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "tfspeech").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to setup.cfg [options] packages: {sorted(on_disk - listed)}"

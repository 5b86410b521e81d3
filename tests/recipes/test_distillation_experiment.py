"""The distillation experiment: its table, curves and epoch-1 alignments from results (fast); two
arms × two points on a 10-sentence slt corpus with a tiny teacher, resumed without retraining (slow)."""

import json

import numpy as np
import pytest

from tfspeech.recipes import distillation_experiment

STOPPED = distillation_experiment.FIGURES[2]


def _figures(focus, first_alignment=((1.0, 0.0), (0.0, 1.0))):
    return {"focus_rate": focus, "diagonality": 0.5, STOPPED: 0.25,
            "first_alignment": [list(row) for row in first_alignment]}


def test_report_from_results(tmp_path):
    results = {"1": {"0": {"1": _figures(0.8), "2": _figures(0.9)}, "1": {"1": _figures(0.6)}},
               "0": {"0": {"1": _figures(0.2)}}}
    distillation_experiment.write_report(results, tmp_path)
    table = (tmp_path / "results.md").read_text().splitlines()
    assert "| 1 | 1 | 0.700 ± 0.100 | 0.500 ± 0.000 | 0.250 ± 0.000 | 2 |" in table
    assert "| 1 | 2 | 0.900 ± 0.000 | 0.500 ± 0.000 | 0.250 ± 0.000 | 1 |" in table
    assert "| 0 | 1 | 0.200 ± 0.000 | 0.500 ± 0.000 | 0.250 ± 0.000 | 1 |" in table
    for picture in ("curves.png", "alignments-epoch-1.png"):
        assert (tmp_path / picture).read_bytes().startswith(b"\x89PNG")


def test_card_section_states_the_goal_and_replaces_itself_on_a_rerun(tmp_path):
    results = {"1": {"0": {"1": _figures(0.8), "4": _figures(0.9)}, "1": {"1": _figures(0.6), "4": _figures(0.9)}},
               "0": {"0": {"1": _figures(0.2), "4": _figures(0.75)}, "1": {"1": _figures(0.3), "4": _figures(0.65)}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / distillation_experiment.SETTINGS).write_text(json.dumps(
        {"subset": 4, "batch_size": 16, "teacher": "tacotron2-slt", "epoch_steps": 476}))
    distillation_experiment.write_report(results, tmp_path)
    preset = tmp_path / "preset"
    preset.mkdir()
    with pytest.raises(FileNotFoundError, match="write the preset first"):
        distillation_experiment.write_card(tmp_path, preset, "cmd")
    (preset / "CARD.md").write_text("# student\n\n## Student and teacher\n\nfigures\n")
    for _ in range(2):
        distillation_experiment.write_card(tmp_path, preset, "python -m x --out DIR")
    card = (preset / "CARD.md").read_text()
    assert card.count(distillation_experiment.CARD_SECTION) == 1 and card.startswith("# student")
    assert "## Student and teacher\n\nfigures" in card and "seeds 0, 1" in card and "476 steps of 16" in card
    # the distilled mean after epoch 1 (0.7 focus) against the undistilled after epoch 4 (0.7): met
    assert "- weight 1: after epoch 1 focus rate 0.700 vs 0.700, stopped within 1.2x 0.250 vs 0.250" in card
    assert ": met" in card and (preset / "distillation-alignments-epoch-1.png").is_file()
    results["1"]["1"]["1"] = _figures(0.5)
    (tmp_path / "results.json").write_text(json.dumps(results))
    distillation_experiment.write_card(tmp_path, preset, "cmd")
    assert "focus rate 0.650 vs 0.700" in (preset / "CARD.md").read_text() and "**not met**" in (
        preset / "CARD.md").read_text()


@pytest.mark.slow
def test_both_arms_are_measured_at_every_point_and_a_rerun_trains_nothing(slt10_corpus, tiny_teacher_zoo,
                                                                          tmp_path):
    options = dict(seeds=[0], weights=[1.0], epochs=[1, 2], epoch_utterances=2, subset=2, batch_size=2,
                   teacher="tiny-teacher", zoo_root=tiny_teacher_zoo, verbose=0)
    results = distillation_experiment.run(slt10_corpus, tmp_path, **options)
    assert set(results) == {"1", "0"} and all(set(arm["0"]) == {"1", "2"} for arm in results.values())
    for arm in results.values():
        for figures in arm["0"].values():
            assert 0 < figures["focus_rate"] <= 1 and 0 <= figures[STOPPED] <= 1
            assert np.allclose(np.sum(figures["first_alignment"], axis=1), 1.0, atol=1e-4)
    assert json.loads((tmp_path / "results.json").read_text()) == results
    steps = json.loads((tmp_path / "w1-seed0" / "training.json").read_text())["steps"]
    assert steps == 2 and distillation_experiment.run(slt10_corpus, tmp_path, **options) == results
    assert json.loads((tmp_path / "w1-seed0" / "training.json").read_text())["steps"] == steps

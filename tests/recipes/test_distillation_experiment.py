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

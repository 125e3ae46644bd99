"""`pilotlens evaluate`: its own options, the metric list in --help, the target it explains."""
import pytest

from pilotlens.cli import main
from pilotlens.evaluate import METRICS


def test_evaluate_and_movie_explain_the_same_target_of_the_donkey_pilot(tmp_path, capsys):
    import json
    assert main(["movie", "--model", "donkey", "--input", "synthetic", "--input-option", "frames=2",
                 "--out", str(tmp_path / "m.gif"), "--quiet"]) == 0
    movie_out = capsys.readouterr().out
    assert main(["evaluate", "--model", "donkey", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "gradient", "--metric", "deletion", "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    evaluated = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert "explaining steering(0.05)" in movie_out
    assert evaluated["target"] == "steering(0.05)" and evaluated["kind"] == "regression"


def test_evaluate_help_lists_the_metrics(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(m in text for m in METRICS)


def test_cli_options_list_the_metrics_and_parse():
    import argparse

    from pilotlens.cli.evaluate import add_evaluate_options, evaluate_arguments, metric_options
    from pilotlens.evaluate import METRIC_DESCRIPTIONS

    p = argparse.ArgumentParser(prog="pilotlens evaluate", epilog="example:\n  pilotlens evaluate ...")
    add_evaluate_options(p)
    text = p.format_help()
    assert all(name in text for name in METRICS) and METRIC_DESCRIPTIONS["temporal"][:30] in text
    args = p.parse_args(["--quick", "--metric", "road", "--metric-option", "road.fractions=(0.2,0.5)", "--frames", "4"])
    kw = evaluate_arguments(args)
    assert kw["preset"] == "quick" and kw["max_frames"] == 4 and kw["options"] == {"road": {"fractions": (0.2, 0.5)}}
    with pytest.raises(ValueError, match="unknown metric 'roads'"):
        metric_options(["roads.fractions=(0.5,)"])
    with pytest.raises(ValueError, match="expected METRIC.OPTION=VALUE"):
        metric_options(["steps=3"])
    with pytest.raises(ValueError, match="expected METRIC.OPTION=VALUE"):
        metric_options(["deletion.steps"])
    assert metric_options(["deletion.steps=10", "deletion.baseline=blur", "sanity.mode=independent"]) == {
        "deletion": {"steps": 10, "baseline": "blur"}, "sanity": {"mode": "independent"}}

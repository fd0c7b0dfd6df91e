"""End to end: a real smoke study, then `study.report` executes its notebook with papermill."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def run(*args, check=True):
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         timeout=900)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def finding2_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    run("study.run", "finding2", "--preset", "smoke", "--seeds", "2", "--results", str(results),
        "--no-progress")
    return results


def test_finding2_report_is_produced(finding2_results, tmp_path):
    out = tmp_path / "report"
    proc = run("study.report", "finding2", "--results", str(finding2_results), "--out", str(out),
               "--reps", "200", "--no-progress")
    assert "report in" in proc.stdout
    assert (out / "finding2.ipynb").exists()
    html = (out / "finding2.html").read_text()
    assert "State probe" in html and "data:image/png" in html  # figures are embedded
    # The probe follows training through the world models kept at each evaluation (10, 20, 30).
    assert "The probe over training" in html and ">updates</th>" in html
    figures = {p.stem for p in (out / "figures").glob("*.png")}
    assert {"state_probe", "filmstrip", "heldout_reward_rmse_horizon",
            "heldout_reward_rmse_open_loop"} <= figures
    assert {p.stem for p in (out / "figures").glob("*.pdf")} == figures
    for name in ("filmstrip", "state_probe"):
        pixels = np.asarray(Image.open(out / "figures" / f"{name}.png").convert("RGB"), float)
        assert pixels.std() > 10, f"{name}.png looks blank"
        assert (pixels < 200).mean() > 0.01, f"{name}.png is almost all white"
    # The verdicts are sentences computed from the data, whichever way they came out.
    assert "w_r=100 beat w_r=1 on" in html and "IQM difference" in html
    # Every offline verdict is read against the constant predictor.
    assert "Against the constant predictor" in html and "skill" in html


def test_report_errors_are_one_line(finding2_results, tmp_path):
    proc = run("study.report", "nope", "--results", str(finding2_results), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unknown study" in proc.stderr
    proc = run("study.report", "finding1", "--results", str(finding2_results), check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no runs of study 'finding1'" in proc.stderr
    assert not (finding2_results / "reports" / "finding1").exists()


def smoke_study_report(tmp_path, study: str, reps: int = 100):
    """Run a study at smoke (2 workers) and report it: (the report's HTML, its folder)."""
    results = tmp_path / "results"
    run("study.run", study, "--preset", "smoke", "--results", str(results), "--no-progress",
        "--workers", "2")
    out = tmp_path / "report"
    run("study.report", study, "--results", str(results), "--out", str(out), "--reps", str(reps),
        "--no-progress")
    return (out / f"{study}.html").read_text(), out


def test_dreamer_check_report_overlays_the_published_curves(tmp_path):
    html, out = smoke_study_report(tmp_path, "dreamer_check", reps=200)
    assert "danijar/dreamerv2 @" in html and "No checkpoint reached yet" in html
    assert (out / "figures" / "learning_curves_vs_reference.png").exists()


def test_atari100k_smoke_runs_end_to_end_beside_the_official_scores(tmp_path):
    html, out = smoke_study_report(tmp_path, "atari100k", reps=200)
    # Our two methods on Pong beside the official per-game scores and 26-game aggregates.
    for text in ("ours: DreamerV3 + HarmonyDream", "official: DreamerV3", "final checkpoint",
                 "P(HarmonyDream &gt; DreamerV3)", "of the protocol"):
        assert text in html, text
    assert (out / "figures" / "curves_vs_official.png").exists()


def test_distracted_smoke_runs_end_to_end_and_names_its_background(tmp_path):
    """Distracted DMC (synthetic videos, no files) and DMC Remastered (colours, no textures):
    both agents train online on each, and the report says what stands in for the paper's
    Kinetics videos and DMCR's images."""
    html, out = smoke_study_report(tmp_path, "distracted")
    assert "dmc_distracted/cartpole-swingup" in html and "stand-in" in html
    assert "dmc_remastered/cartpole-swingup" in html and "colours standing in" in html
    assert "return / 1000" in html  # scored as DMC returns
    assert (out / "figures" / "learned_weights.png").exists()


def test_crafter_smoke_runs_end_to_end_with_its_scores(tmp_path):
    """Crafter with DreamerV3 and HarmonyDream: training episodes log their achievements, the
    report computes success rates and the Crafter score, and says what Crafter stands in for."""
    pytest.importorskip("crafter", reason="the crafter extra: pip install -e '.[crafter]'")
    html, out = smoke_study_report(tmp_path, "crafter")
    assert "stand-in for the paper" in html and "Minecraft" in html
    assert "Crafter score (%)" in html and "collect_wood" in html
    assert (out / "figures" / "learning_curves.png").exists()

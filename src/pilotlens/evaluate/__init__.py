"""Can a map be trusted? Faithfulness, sanity, localisation and robustness metrics for saliency maps,
for regressors (steering, throttle, distance sensors) as well as classifiers.

    from pilotlens.evaluate import evaluate
    report = evaluate(pilot, frames, methods=["grad_cam", "gradient"], out_dir="eval")
    print(report)

One module per metric (each usable alone on a model, a batch x and its maps):

    deletion      deletion and insertion curves and AUC (Petsiuk et al. 2018)
    road          ROAD: MoRF / LeRF with noisy linear imputation (Rong et al. 2022)
    shift         the VisualBackProp shift test (Bojarski et al. 2017)
    sanity        cascading / independent layer randomisation (Adebayo et al. 2018)
    similarity    Spearman rank correlation and SSIM of maps
    localisation  pointing game and energy share against ground-truth masks
    robustness    brightness, shadow, road-coloured obstacle, noise and shift perturbations
    faithfulness  faithfulness correlation (Bhatt et al. 2020), as Quantus's FaithfulnessCorrelation
    temporal      temporal consistency of a drive's maps: flicker where the road and steering are steady
    random_map    the `random` baseline method
    registry      the metrics evaluate runs (METRICS, one-line descriptions) and the work they share
    report        evaluate(): runs every method x metric
    format        the Report: tables (Markdown, CSV, JSON) and plots
    options       the command line's evaluate options (add_evaluate_options)
"""
from ._common import Tracker
from ._method import Method, applicable_methods, method_names, resolve_method, resolve_methods
from .deletion import BASELINES, CurveResult, deletion, gaussian_blur, insertion, make_baseline
from .localisation import LocalisationResult, energy_share, localisation, mask_share, masks_to_input, pointing_game
from ..methods.random_map import RandomMap, random_maps
from .faithfulness import CorrelationResult, faithfulness_correlation
from .format import Report, write_report
from .registry import METRIC_DESCRIPTIONS, METRICS, PRESETS, describe_metrics
from .report import DEFAULT_FRAMES, evaluate, evaluate_source
from .temporal import TemporalResult, temporal_consistency
from .road import RoadResult, linear_impute, noisy_linear_impute, road
from .robustness import DEFAULT_STRENGTHS, PERTURBATIONS, RobustnessResult, perturb, robustness
from .sanity import SanityResult, parameter_layers, randomized, sanity_check
from .shift import ShiftResult, salient_window, shift_image, shift_test
from .similarity import spearman, ssim

__all__ = [
    "evaluate", "evaluate_source", "Report", "write_report", "METRICS", "METRIC_DESCRIPTIONS", "PRESETS",
    "DEFAULT_FRAMES", "describe_metrics", "faithfulness_correlation", "CorrelationResult", "temporal_consistency",
    "TemporalResult",
    "deletion", "insertion", "CurveResult", "make_baseline", "gaussian_blur", "BASELINES",
    "road", "RoadResult", "linear_impute", "noisy_linear_impute",
    "shift_test", "ShiftResult", "salient_window", "shift_image",
    "sanity_check", "SanityResult", "parameter_layers", "randomized",
    "spearman", "ssim",
    "localisation", "LocalisationResult", "pointing_game", "energy_share", "mask_share", "masks_to_input",
    "robustness", "RobustnessResult", "perturb", "PERTURBATIONS", "DEFAULT_STRENGTHS",
    "RandomMap", "random_maps", "Method", "resolve_method", "resolve_methods", "method_names", "applicable_methods", "Tracker",
]

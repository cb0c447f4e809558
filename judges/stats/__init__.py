"""The statistics, as pure functions.

They take arrays and polars frames; nothing here reads a run folder, draws or writes a file.

``classic`` (Wilson intervals, binomial and McNemar tests, Holm, Cohen's kappa), ``bootstrap``
(the cluster bootstrap), ``cluster_intervals`` (clustered intervals that hold their level down to
8 clusters, from the bootstrap's draws; the one place rankings and new statistics get theirs),
``ties`` (tie-aware accuracy), ``agreement`` (the agreement table), ``ceiling`` (the human
ceiling, Krippendorff's alpha), ``calibration`` (ECE, margin calibration, position bias),
``paired`` (paired comparisons of two settings), ``prelabel_promise`` (the pre-labelling
threshold and its prediction interval), ``shift`` (does a new batch look like the calibration
set), ``ranking`` and ``ranking_tables`` (Bradley-Terry generator rankings, Kendall's tau-b) and
``slices`` (agreement by slice, heterogeneity test), ``above_pairs`` (rankings and slices for a
run's verdicts: generators and record fields joined in), ``repeats`` (a judge asked K times:
majority verdict, self-consistency, single-sample agreement).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "binomial_p_value": "classic",
    "cohen_kappa": "classic",
    "holm": "classic",
    "mcnemar_exact": "classic",
    "wilson_interval": "classic",
    "wilson_intervals": "classic",
    "BootstrapConfig": "bootstrap",
    "ClusterResampler": "bootstrap",
    "design_effect": "bootstrap",
    "percentile_interval": "bootstrap",
    "resample_weights": "bootstrap",
    "MIN_CLUSTERS": "cluster_intervals",
    "difference_interval": "cluster_intervals",
    "mean_interval": "cluster_intervals",
    "proportion_interval": "cluster_intervals",
    "wilson_effective": "cluster_intervals",
    "TieAccuracy": "ties",
    "tie_accuracy": "ties",
    "agreement_table": "agreement",
    "majority": "repeats",
    "repeat_stats": "repeats",
    "repeats_table": "repeats",
    "cluster_column": "agreement",
    "ceiling_table": "ceiling",
    "krippendorff_alpha": "ceiling",
    "leave_one_out": "ceiling",
    "with_ceiling": "ceiling",
    "MarginCalibrator": "calibration",
    "calibration_table": "calibration",
    "expected_calibration_error": "calibration",
    "position_bias": "calibration",
    "reliability_bins": "calibration",
    "Arm": "paired",
    "compare": "paired",
    "compare_arms": "paired",
    "default_family": "paired",
    "parse_comparison": "paired",
    "Promise": "prelabel_promise",
    "choose_threshold": "prelabel_promise",
    "one_sided_bound": "prelabel_promise",
    "predict_batch": "prelabel_promise",
    "prediction_interval": "prelabel_promise",
    "shift_checks": "shift",
    "RankingConfig": "ranking",
    "fit_bradley_terry": "ranking",
    "kendall_tau_b": "ranking",
    "Rankings": "ranking_tables",
    "generator_rankings": "ranking_tables",
    "heterogeneity": "slices",
    "slice_table": "slices",
    "AbovePairs": "above_pairs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)

"""Uncertainty for AUCs and paired comparisons against the baseline.

- DeLong variance with the fast midrank algorithm (Sun & Xu, IEEE SPL 2014).
- Per-run bootstrap CI: ``scipy.stats.bootstrap`` with positives and negatives resampled
  separately (stratified), BCa or percentile.
- Variants (training recipes) are compared by :func:`verdict`: per split, the paired ΔAUC with its
  DeLong variance; across splits, a DerSimonian-Laird random-effects mean with the Hartung-Knapp
  t interval, so the uncertainty includes the variation between training runs. A bootstrap
  over splits (:func:`split_bootstrap`) is the bootstrap alternative. Their false-positive rates are
  checked by simulation (tests/test_verdict.py) and by a real A/A suite (suites/aa.yaml).
- Trained models are compared by :func:`paired_comparison`: a stratified bootstrap over test
  cases only (as pROC's ``roc.test``), conditional on those models. All resamples are computed at
  once as ``Delta_b = w_b^T (H_a - H_b) v_b / (m n)``.
- Holm (default), Bonferroni or Benjamini-Hochberg across comparisons; power as the minimum
  detectable ΔAUC.
- Across data sets, descriptive only: mean ranks, Friedman, Nemenyi critical difference.

One file per job: :mod:`.auc`, :mod:`.paired`, :mod:`.decisive`, :mod:`.power`, :mod:`.sequential`,
:mod:`.ranks`.
"""

from .auc import AucCI, bootstrap_ci, delong_ci, _auc_from_samples, _midrank_placements, _placements_sorted  # noqa: F401
from .paired import (case_bootstrap_p, case_bootstrap_var, Comparison, contrast_delta,  # noqa: F401
                     paired_comparison, paired_comparisons, paired_delong,  # noqa: F401
                     PairedRun, split_delta, _case_counts, _case_replicates, _interval, _kernel)
from .decisive import (adjust_pvalues, random_effects, split_bootstrap, split_bootstrap_deltas, split_t,  # noqa: F401
                       tost_p, Verdict, verdict)
from .power import min_detectable, Power, t_power, variance_growth, _grown_sd, _mde  # noqa: F401
from .sequential import linear_spent, obf_spent, sequential_levels, SPENDING  # noqa: F401
from .ranks import friedman_exact_p, rank_variants, RankSummary, _friedman_null  # noqa: F401

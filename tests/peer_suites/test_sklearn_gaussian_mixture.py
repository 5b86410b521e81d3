"""scikit-learn's ``mixture/tests/test_gaussian_mixture.py``, run against tfspeech's
GaussianMixture (see :mod:`tests.peer_suites`)."""

from tests.peer_suites.loader import run_peer_module

_PRIVATE = "tests scikit-learn's private helpers (sklearn.mixture._gaussian_mixture), not the estimator"
_ARRAY_API = "scikit-learn's array-API dispatch (torch/cupy namespaces); tfspeech takes numpy arrays and tf.data"

#: Tests set aside, by name, with the reason.
SKIP = {
    "test_suffstat_sk_full": _PRIVATE,
    "test_suffstat_sk_tied": _PRIVATE,
    "test_suffstat_sk_diag": _PRIVATE,
    "test_gaussian_suffstat_sk_spherical": _PRIVATE,
    "test_compute_log_det_cholesky": _PRIVATE,
    "test_gaussian_mixture_log_probabilities": _PRIVATE,
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": _PRIVATE,
    "test_gaussian_mixture_precisions_init": "calls GaussianMixture's private _set_parameters and "
                                             "_initialize(X, resp); tests/probabilistic/test_gmm_sklearn.py "
                                             "checks the same precisions_init round trip through fit",
    "test_check_weights": "scikit-learn's out-of-range message labels the minimum 'max value' and the "
                          "maximum 'min value'; tfspeech labels them right. The shape and normalization "
                          "messages are scikit-learn's (tests/probabilistic/test_gmm_sklearn.py compares them)",
    "test_gaussian_mixture_array_api_compliance": _ARRAY_API,
    "test_gaussian_mixture_raises_where_array_api_not_implemented": _ARRAY_API,
}

run_peer_module(globals(), "sklearn", "mixture/tests/test_gaussian_mixture.py", [
    (r"^from sklearn\.mixture import GaussianMixture$",
     "from tests.peer_suites.adapters import sklearn_mixture\nGaussianMixture = sklearn_mixture.GaussianMixture"),
])

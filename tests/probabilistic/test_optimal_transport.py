"""Kantorovich primal/dual LPs and log-domain Sinkhorn: duality, feasibility, marginals, ε → 0."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import linear_sum_assignment

from tfspeech.probabilistic import optimal_transport as ot


def _random_problem(rng, m, n):
    source = rng.normal(size=(m, 2))
    target = rng.normal(size=(n, 2)) + [1.0, 0.5]
    cost = ((source[:, None] - target[None]) ** 2).sum(-1)
    a = rng.uniform(0.1, 1.0, size=m)
    b = rng.uniform(0.1, 1.0, size=n)
    return a / a.sum(), b / b.sum(), cost / cost.max()


def _entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


@pytest.mark.parametrize("seed, m, n", [(0, 3, 4), (1, 6, 6), (2, 9, 5), (3, 15, 12), (4, 1, 7)])
def test_strong_duality_feasibility_and_complementary_slackness(seed, m, n):
    a, b, cost = _random_problem(np.random.default_rng(seed), m, n)
    primal = ot.solve_kantorovich_primal(a, b, cost)
    dual = ot.solve_kantorovich_dual(a, b, cost)

    assert abs(primal.value - dual.value) <= 1e-6
    assert np.all(primal.plan >= -1e-12)
    np.testing.assert_allclose(primal.plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(primal.plan.sum(0), b, atol=1e-9)
    slack = cost - dual.phi[:, None] - dual.psi[None, :]
    assert slack.min() >= -1e-9  # φ_i + ψ_j ≤ C_ij
    assert np.all(slack[primal.plan > 1e-9] <= 1e-7)  # mass moves only along tight constraints


def test_primal_on_uniform_square_problem_is_the_best_permutation():
    # Birkhoff–von Neumann: with uniform marginals an optimal plan is a permutation / n.
    cost = np.random.default_rng(5).uniform(size=(7, 7))
    uniform = np.full(7, 1 / 7)
    rows, cols = linear_sum_assignment(cost)
    primal = ot.solve_kantorovich_primal(uniform, uniform, cost)
    assert primal.value == pytest.approx(cost[rows, cols].mean(), abs=1e-12)


def test_sinkhorn_plan_has_the_requested_marginals():
    a, b, cost = _random_problem(np.random.default_rng(6), 8, 11)
    result = ot.sinkhorn(a, b, cost, epsilon=0.05, tolerance=1e-10)
    assert bool(result.converged) and result.plan.shape == (8, 11)
    np.testing.assert_allclose(tf.reduce_sum(result.plan, 1), a, atol=1e-10)
    np.testing.assert_allclose(tf.reduce_sum(result.plan, 0), b, atol=1e-12)
    np.testing.assert_allclose(result.transport_cost, np.sum(result.plan.numpy() * cost), rtol=1e-12)
    # Entropic strong duality (unit mass): the regularized value equals ⟨f, a⟩ + ⟨g, b⟩.
    np.testing.assert_allclose(result.regularized_value, a @ result.f.numpy() + b @ result.g.numpy(), rtol=1e-9)
    assert float(result.regularized_value) > float(result.transport_cost)  # ε KL(P‖abᵀ) > 0


def test_sinkhorn_tends_to_the_lp_value_within_the_entropy_bound():
    a, b, cost = _random_problem(np.random.default_rng(7), 10, 12)
    exact = ot.solve_kantorovich_primal(a, b, cost).value
    entropy_bound = min(_entropy(a), _entropy(b))
    gaps = []
    for epsilon in (0.3, 0.03, 0.003, 0.0003):
        result = ot.sinkhorn(a, b, cost, epsilon, tolerance=1e-11, max_iterations=100_000)
        assert bool(result.converged)
        regularized = float(result.regularized_value)
        # LP ≤ min ⟨P,C⟩ + ε KL(P‖abᵀ) ≤ LP + ε KL(P*‖abᵀ) ≤ LP + ε min(H(a), H(b)).
        assert exact - 1e-9 <= regularized <= exact + epsilon * entropy_bound
        gaps.append(float(result.transport_cost) - exact)
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert abs(gaps[-1]) < 1e-4


def test_sinkhorn_is_stable_for_tiny_epsilon_and_zero_mass_bins():
    a = np.array([0.5, 0.0, 0.5])
    b = np.array([0.25, 0.75])
    cost = np.array([[0.0, 1.0], [0.3, 0.1], [2.0, 0.0]])
    result = ot.sinkhorn(a, b, cost, epsilon=1e-4, max_iterations=50_000)
    exact = ot.solve_kantorovich_primal(a, b, cost)
    assert np.all(np.isfinite(result.plan)) and np.all(np.isfinite(result.f))
    np.testing.assert_allclose(result.plan, exact.plan, atol=1e-6)


def test_sinkhorn_batch_matches_one_problem_at_a_time():
    rng = np.random.default_rng(8)
    problems = [_random_problem(rng, 5, 6) for _ in range(3)]
    a, b, cost = (np.stack(parts) for parts in zip(*problems))
    batched = ot.sinkhorn(a, b, cost, epsilon=0.02, tolerance=1e-11)
    assert batched.plan.shape == (3, 5, 6) and batched.transport_cost.shape == (3,)
    for k, problem in enumerate(problems):
        single = ot.sinkhorn(*problem, epsilon=0.02, tolerance=1e-11)
        np.testing.assert_allclose(batched.plan[k], single.plan, atol=1e-10)
    shared_cost = ot.sinkhorn(a, b, cost[0], epsilon=0.02)  # one cost matrix broadcast over the batch
    assert shared_cost.plan.shape == (3, 5, 6)


def test_sinkhorn_reports_non_convergence():
    a, b, cost = _random_problem(np.random.default_rng(9), 6, 6)
    result = ot.sinkhorn(a, b, cost, epsilon=1e-3, max_iterations=3)
    assert int(result.iterations) == 3 and not bool(result.converged)


GOOD = dict(a=[0.5, 0.5], b=[0.2, 0.3, 0.5], cost=np.ones((2, 3)))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(b=[0.2, 0.3, 0.6]), "same positive total mass"),
        (dict(a=[-0.5, 1.5]), "negative entries"),
        (dict(cost=-np.ones((2, 3))), "negative entries"),
        (dict(cost=np.ones((3, 2))), "shape"),
        (dict(a=[0.5, np.nan]), "NaN or inf"),
        (dict(cost=np.full((2, 3), np.inf)), "NaN or inf"),
    ],
)
def test_bad_input_is_rejected_by_lps_and_sinkhorn(change, message):
    arguments = GOOD | change
    for solve in (ot.solve_kantorovich_primal, ot.solve_kantorovich_dual):
        with pytest.raises(ValueError, match=message):
            solve(**arguments)
    with pytest.raises(ValueError, match=message):
        ot.sinkhorn(**arguments, epsilon=0.1)


@pytest.mark.parametrize("epsilon", [-0.1, 0.0, float("nan"), float("inf")])
def test_bad_epsilon_is_rejected(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        ot.sinkhorn(**GOOD, epsilon=epsilon)


def test_bad_iteration_settings_are_rejected():
    with pytest.raises(ValueError, match="max_iterations"):
        ot.sinkhorn(**GOOD, epsilon=0.1, max_iterations=0)
    with pytest.raises(ValueError, match="tolerance"):
        ot.sinkhorn(**GOOD, epsilon=0.1, tolerance=-1.0)

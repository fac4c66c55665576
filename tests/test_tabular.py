"""Synthetic tabular records: generators keep what they claim to keep, and the fidelity,
utility and privacy scores give their known answers (copies are caught, fresh samples are not)."""
import numpy as np
import pytest
import torch

from genai_lib import tabular as T


def correlated(n, rho=0.9, d=3, seed=0, share_1=0.3):
    """Gaussian records with every pair correlated ``rho``; labels independent of them."""
    rng = np.random.default_rng(seed)
    cov = rho * np.ones((d, d)) + (1 - rho) * np.eye(d)
    return rng.multivariate_normal(np.zeros(d), cov, n), (rng.random(n) < share_1).astype(np.int64)


@pytest.fixture(scope="module")
def cancer():
    return T.load_breast_cancer_split()


def test_split_is_stratified_disjoint_and_typed(cancer):
    x_train, y_train, x_test, y_test, names = cancer
    assert x_train.shape == (398, 30) and x_test.shape == (171, 30) and len(names) == 30
    assert x_train.dtype == np.float64 and y_train.dtype == np.int64 and set(np.unique(y_test)) == {0, 1}
    assert abs(y_train.mean() - y_test.mean()) < 0.01                      # both ~63% benign
    assert not (x_test[:, None, :] == x_train[None, :, :]).all(2).any()   # no held-out row is a training row
    again = T.load_breast_cancer_split()
    assert np.array_equal(again[0], x_train) and not np.array_equal(T.load_breast_cancer_split(seed=1)[0], x_train)


GENERATORS = {
    "IndependentMarginals": lambda: T.IndependentMarginals(),
    "GaussianCopula": lambda: T.GaussianCopula(),
    "GaussianMixtureGenerator": lambda: T.GaussianMixtureGenerator(n_components=2),
    "TabularVAE": lambda: T.TabularVAE(steps=30),
    "CopyOfTraining": lambda: T.CopyOfTraining(),
}


@pytest.mark.parametrize("make", GENERATORS.values(), ids=GENERATORS.keys())
def test_generators_sample_shapes_class_proportions_and_are_seeded(make):
    x, y = correlated(400)
    with pytest.raises(RuntimeError, match="Call .fit"):
        make().sample(5)
    gen = make().fit(x, y)
    xs, ys = gen.sample(101, seed=3)
    assert xs.shape == (101, 3) and xs.dtype == np.float64 and ys.dtype == np.int64 and np.isfinite(xs).all()
    # exact rounding: each class count is within 1 of 101 * (its training share), and they sum to 101
    assert np.abs(np.bincount(ys, minlength=2) - 101 * np.bincount(y) / 400).max() < 1
    assert (np.diff(ys) != 0).sum() > 2                                   # shuffled, not sorted by class
    again = gen.sample(101, seed=3)
    assert np.array_equal(again[0], xs) and np.array_equal(again[1], ys)
    assert not np.array_equal(gen.sample(101, seed=4)[0], xs)


def test_class_counts_are_exact_rounding():
    assert T._class_counts(10, np.array([0.25, 0.75])).tolist() == [3, 7]   # 2.5 and 7.5: one extra goes to the first
    assert T._class_counts(3, np.array([1 / 3, 1 / 3, 1 / 3])).tolist() == [1, 1, 1]
    assert T._class_counts(1, np.array([0.1, 0.9])).tolist() == [0, 1]


def test_generators_are_class_conditional():
    # class 1 is shifted by +10 in every feature: samples of class 1 must be too
    x, y = correlated(600)
    x[y == 1] += 10
    for make in GENERATORS.values():
        xs, ys = make().fit(x, y).sample(300)
        assert xs[ys == 0].mean() < 1 and xs[ys == 1].mean() > 9


def test_independent_marginals_lose_a_correlation_the_copula_keeps():
    x, y = correlated(2000, rho=0.9)
    indep = T.IndependentMarginals().fit(x, y).sample(2000, seed=1)[0]
    copula = T.GaussianCopula().fit(x, y).sample(2000, seed=1)[0]
    assert T.ks_statistics(x, indep).max() < 0.06 and T.ks_statistics(x, copula).max() < 0.06
    assert T.correlation_gap(x, indep) > 0.8                              # 0.9 -> ~0
    assert T.correlation_gap(x, copula) < 0.05
    # only values of the training columns, unless smoothed
    assert np.isin(indep, x).all() and not np.isin(T.IndependentMarginals(0.1).fit(x, y).sample(50)[0], x).any()


def test_gaussian_copula_keeps_a_skewed_marginal_and_a_rank_correlation():
    x, y = correlated(2000, rho=0.8, d=2)
    x = np.exp(x)                                                          # log-normal: skewed columns
    xs = T.GaussianCopula().fit(x, y).sample(2000, seed=2)[0]
    assert xs.min() >= x.min() and xs.max() <= x.max()                     # the quantile function stays in range
    rho_s = lambda t: np.corrcoef(np.argsort(np.argsort(t, 0), 0).T)[0, 1]  # Spearman's rank correlation
    assert abs(rho_s(xs) - rho_s(x)) < 0.03 and T.ks_statistics(x, xs).max() < 0.06


def test_ks_and_correlation_gap_closed_forms():
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert np.array_equal(T.ks_statistics(x, x), np.zeros(3)) and T.correlation_gap(x, x) == 0
    assert np.array_equal(T.ks_statistics(x, x + 100), np.ones(3))         # disjoint supports
    a, b = np.arange(4.0)[:, None], np.arange(2.0, 6.0)[:, None]           # {0,1,2,3} vs {2,3,4,5}
    assert T.ks_statistics(a, b).tolist() == [0.5]
    anti = np.c_[x[:, 0], -x[:, 0]]                                        # correlation -1 vs +1: gap 2
    assert T.correlation_gap(anti, np.c_[x[:, 0], x[:, 0] + 0.0]) == pytest.approx(2.0)


def test_tstr_is_well_above_the_majority_rate(cancer):
    x_train, y_train, x_test, y_test, _ = cancer
    majority = np.bincount(y_test).max() / len(y_test)                     # 0.63
    trtr = T.tstr(x_train, y_train, x_test, y_test)
    xs, ys = T.GaussianCopula().fit(x_train, y_train).sample(len(x_train), seed=0)
    assert trtr > 0.93 and T.tstr(xs, ys, x_test, y_test) > majority + 0.2
    shuffled = np.random.default_rng(0).permutation(y_train)              # labels carrying no information
    assert T.tstr(x_train, shuffled, x_test, y_test) < majority + 0.1


def test_distance_to_closest_record():
    ref = np.array([[0.0, 0.0], [3.0, 4.0]])
    unit = np.array([[-1.0, -1.0], [1.0, 1.0]])                            # mean 0, std 1: distances in raw units
    assert T.distance_to_closest_record(np.array([[0.0, 0.0], [3.0, 5.0]]), ref, scale=unit).tolist() == [0.0, 1.0]
    # by default in the reference's standard deviations (1.5 and 2): (3, 0) is (1, -1), two units from (-1, -1)
    assert T.distance_to_closest_record(np.array([[3.0, 0.0]]), ref).tolist() == [2.0]


def test_privacy_check_flags_a_copy_and_not_new_real_records(cancer):
    x_train, y_train, x_test, y_test, _ = cancer
    copy = T.CopyOfTraining().fit(x_train, y_train).sample(171)[0]
    report = T.privacy_check(x_train, x_test, copy)
    assert report["flagged"] and report["dcr_ratio"] == 0 and report["share_closer_than_holdout_p5"] == 1
    # three disjoint real samples: the "synthetic" records are as far from training as held-out ones
    rng = np.random.default_rng(0)
    rest = rng.permutation(np.concatenate([x_train, x_test]))
    train, holdout, synth = rest[:285], rest[285:427], rest[427:]
    report = T.privacy_check(train, holdout, synth)
    assert not report["flagged"] and 0.7 < report["dcr_ratio"] < 1.4
    x, _ = correlated(3000, d=5)
    report = T.privacy_check(x[:1000], x[1000:2000], x[2000:])
    assert not report["flagged"] and abs(report["dcr_ratio"] - 1) < 0.1
    assert abs(report["share_closer_than_holdout_p5"] - 0.05) < 0.02


def test_membership_inference_exposes_a_copy_and_not_fresh_samples():
    x, y = correlated(3000, d=5)
    members, nonmembers, fresh = x[:1000], x[1000:2000], x[2000:]
    copy = T.CopyOfTraining().fit(members, y[:1000]).sample(1000)[0]
    assert T.membership_inference_auroc(members, nonmembers, copy) == 1.0
    assert abs(T.membership_inference_auroc(members, nonmembers, fresh) - 0.5) < 0.05


def test_tabular_vae_trains_and_keeps_a_correlation_independent_marginals_lose():
    x, y = correlated(1000, rho=0.9, d=4)
    threads = torch.get_num_threads()
    vae = T.TabularVAE(steps=600, lr=3e-3).fit(x, y)
    assert torch.get_num_threads() == threads                              # trained on one thread, then restored
    assert len(vae.losses) == 2 and all(np.mean(l[-30:]) < np.mean(l[:30]) - 1 for l in vae.losses)
    xs = vae.sample(1000, seed=0)[0]
    indep = T.IndependentMarginals().fit(x, y).sample(1000, seed=0)[0]
    assert np.isfinite(xs).all()
    assert T.correlation_gap(x, xs) < 0.2 < 0.8 < T.correlation_gap(x, indep)
    cfg = T.TabularVAE(latent_dim=2).cfg
    assert cfg == T.TabularVAEConfig(latent_dim=2) and type(T.TabularVAE(steps=np.int64(5)).cfg.steps) is int

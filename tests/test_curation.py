"""Each data transformation of Chapter 6 does exactly what it says, on tensors small enough to check by hand."""
import pytest
import torch

from genai_lib import curation as C


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_subsample_and_per_class_pick_distinct_indices():
    idx = C.subsample(100, 10, g())
    assert len(idx) == 10 == len(set(idx.tolist())) and idx.max() < 100 and torch.equal(idx, idx.sort().values)
    y = torch.tensor([0, 1, 2] * 5)
    chosen = C.per_class(y, 2, 3, g())
    assert torch.bincount(y[chosen], minlength=3).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="smallest class"):
        C.per_class(y, 6, 3, g())


def test_long_tail_keeps_class_k_with_probability_rho_to_the_k():
    y = torch.arange(10).repeat(20000)
    kept = y[C.long_tail(y, 0.5, 10, g())]
    share = torch.bincount(kept, minlength=10).double() / 20000
    assert torch.allclose(share, 0.5 ** torch.arange(10).double(), atol=0.01)
    assert share[0] == 1.0  # class 0 is kept whole


def test_histogram_and_total_variation():
    h = C.class_histogram(torch.tensor([0, 0, 1, 2]), 4)
    assert h.tolist() == [0.5, 0.25, 0.25, 0.0]
    assert C.total_variation(h, h) == 0
    assert C.total_variation(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == 1
    assert C.total_variation(torch.tensor([0.5, 0.5]), torch.tensor([0.8, 0.2])) == pytest.approx(0.3)


def test_balanced_sample_draws_each_class_equally_often():
    y = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    counts = torch.bincount(y[C.balanced_sample(y, 30000, 3, g())], minlength=3)
    assert (counts.double() / 30000 - 1 / 3).abs().max() < 0.02


def test_corrupt_images_changes_exactly_the_masked_share():
    x = torch.rand(20, 1, 28, 28) * 0.5
    for kind in ("invert", "noise", "occlude"):
        out, mask = C.corrupt_images(x, 0.25, kind, g())
        assert mask.sum() == 5 and torch.equal(out[~mask], x[~mask]) and not torch.equal(out[mask], x[mask])
        assert out.min() >= 0 and out.max() <= 1
    out, mask = C.corrupt_images(x, 0.25, "invert", g())
    assert torch.equal(out[mask], 1 - x[mask])
    out, _ = C.corrupt_images(x, 0.5, "occlude", g())
    assert ((out == 1).flatten(1).sum(1) >= 14 * 14).sum() == 10  # a 14x14 white square in each corrupted image
    with pytest.raises(ValueError, match="kind"):
        C.corrupt_images(x, 0.1, "blur")


def test_flip_labels_always_moves_to_another_class():
    y = torch.arange(10).repeat(10)
    noisy, mask = C.flip_labels(y, 0.3, 10, g())
    assert mask.sum() == 30 and (noisy[mask] != y[mask]).all() and torch.equal(noisy[~mask], y[~mask])
    assert noisy.max() < 10 and noisy.min() >= 0


def test_planted_duplicates_are_found_and_nothing_else():
    x = torch.rand(50, 1, 8, 8)
    big, origin = C.plant_duplicates(x, torch.tensor([3, 7]), copies=4)
    assert len(big) == 58 and origin[50:].tolist() == [3] * 4 + [7] * 4
    dup = C.exact_duplicates(big)
    assert dup.nonzero().squeeze(1).tolist() == list(range(50, 58))  # the copies, not the originals
    near, origin = C.plant_duplicates(x, torch.tensor([3, 7]), copies=4, noise=0.01, generator=g())
    assert C.exact_duplicates(near).sum() == 0  # noise defeats hashing ...
    found = C.near_duplicates(near.flatten(1), threshold=0.5)
    assert found.nonzero().squeeze(1).tolist() == list(range(50, 58))  # ... but not a distance threshold
    # distinct random images are ~3 apart in 64 dimensions, the noisy copies ~0.1: nothing else is found
    assert C.near_duplicates(x.flatten(1), threshold=0.5).sum() == 0


def test_near_duplicates_compares_with_kept_rows_only():
    chain = torch.tensor([[0.0], [0.4], [0.8], [1.1]])
    # 0.4 is a copy of 0 and dropped; 0.8 is 0.8 from the only kept row, so it is kept; 1.1 copies 0.8
    assert C.near_duplicates(chain, threshold=0.5).tolist() == [False, True, False, True]
    # the same across chunk boundaries
    assert C.near_duplicates(chain, threshold=0.5, chunk=1).tolist() == [False, True, False, True]


def test_nearest_distance_is_zero_for_a_copy():
    ref = torch.rand(30, 1, 4, 4)
    d = C.nearest_distance(torch.cat([ref[:3], ref[:3] + 1]), ref)
    assert torch.allclose(d[:3], torch.zeros(3), atol=1e-5) and (d[3:] > 1).all()


def test_center_of_mass_and_translation():
    x = torch.zeros(2, 1, 9, 9)
    x[0, 0, 4, 4] = 1
    x[1, 0, 2, 6] = 1
    assert C.center_of_mass(x).tolist() == [[4.0, 4.0], [2.0, 6.0]]
    moved = C.translate(x, torch.tensor([[1, -2], [0, 0]]))
    assert C.center_of_mass(moved).tolist() == [[5.0, 2.0], [2.0, 6.0]]
    assert torch.equal(C.translate(x, torch.tensor([[9, 0], [0, 0]]))[0], torch.zeros(1, 9, 9))  # shifted out


def test_diff_augment_is_differentiable_and_can_share_one_transform():
    x = torch.rand(6, 1, 12, 12, requires_grad=True)
    out = C.diff_augment(x, max_shift=2, cutout=4, generator=g())
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    same = C.diff_augment(torch.ones(4, 1, 12, 12), max_shift=2, cutout=4, same_for_batch=True, generator=g(1))
    assert all(torch.equal(same[0], same[i]) for i in range(4))
    varied = C.diff_augment(torch.ones(16, 1, 12, 12), max_shift=2, cutout=4, generator=g(1))
    assert not all(torch.equal(varied[0], varied[i]) for i in range(16))
    assert torch.equal(C.diff_augment(x.detach(), max_shift=0), x.detach())


def test_pca_recovers_a_planted_subspace_and_round_trips_it():
    # images that vary only along two fixed directions: two components reconstruct them exactly
    gen = g()
    basis = torch.linalg.qr(torch.randn(16, 2, generator=gen)).Q                 # (16, 2) orthonormal
    coef = torch.randn(200, 2, generator=gen) * 0.05
    x = (0.5 + coef @ basis.T).reshape(200, 1, 4, 4)
    pca = C.PCA.fit(x, 2)
    assert torch.allclose(pca.components.T @ pca.components, torch.eye(2), atol=1e-5)
    assert torch.allclose(pca.decode(pca.encode(x)), x, atol=1e-5)
    # the fitted directions span the planted ones (projection of the basis onto them is complete)
    assert torch.allclose((pca.components @ pca.components.T) @ basis, basis, atol=1e-4)
    with pytest.raises(ValueError, match="as the PCA was fitted on"):
        pca.encode(torch.rand(3, 1, 5, 5))


def test_class_gaussians_are_the_maximum_likelihood_fit():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 12.0]])
    y = torch.tensor([0, 0, 1, 1])
    gauss = C.class_gaussians(z, y, 2, ridge=1e-6)
    assert torch.allclose(gauss.loc, torch.tensor([[1.0, 0.0], [10.0, 11.0]]))
    # ML variance divides by N: points 0 and 2 have variance 1 (the unbiased estimate would say 2)
    assert torch.allclose(gauss.covariance_matrix[0], torch.diag(torch.tensor([1.0, 0.0])), atol=1e-5)
    assert gauss.log_prob(z[:, None]).shape == (4, 2)
    with pytest.raises(ValueError, match="at least 2 examples of every class"):
        C.class_gaussians(z, torch.tensor([0, 0, 0, 1]), 2)


def test_label_issues_finds_flipped_labels_of_separated_classes_and_nothing_else():
    gen = g(3)
    centres = torch.tensor([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    y = torch.arange(3).repeat(100)
    z = centres[y] + torch.randn(300, 2, generator=gen)
    noisy, flipped = C.flip_labels(y, 0.1, 3, g(4))
    flag = C.label_issues(z, noisy, 3, generator=g(5))
    assert torch.equal(flag, flipped)


def test_rotation_and_orientation_agree_and_turn_counter_clockwise():
    bar = torch.zeros(1, 1, 28, 28)
    bar[0, 0, 4:24, 13:15] = 1                                              # an upright bar
    assert abs(C.orientation(bar).item()) < 1e-4
    for angle in (20.0, -35.0):
        turned = C.rotate(bar, torch.tensor([angle]))
        assert abs(C.orientation(turned).item() - angle) < 0.5              # rotating by a adds a
        top = turned[0, 0, :10]
        top_col = (top.sum(0) * torch.arange(28.0)).sum() / top.sum()
        assert (top_col < 13.5) == (angle > 0)                               # positive: the top moves left
    assert torch.allclose(C.rotate(bar, torch.zeros(1)), bar, atol=1e-6)    # 0 degrees: unchanged
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    C.rotate(x, torch.tensor([10.0, -10.0])).sum().backward()
    assert x.grad is not None                                                # differentiable

import math

import numpy as np
import pytest
import torch

from genai_lib import metrics


def test_frechet_distance_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    sigma = a @ a.T + np.eye(5)
    assert metrics.frechet_distance(np.ones(5), sigma, np.ones(5), sigma) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s1, s2.
    assert metrics.frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + (2 - 1) ** 2)
    # Diagonal covariances: sum over dimensions of the 1-D formula.
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, -2.0])
    expected = 5 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_classifier_fid_from_samples_approaches_the_analytic_value():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(20000, 2, generator=g)
    fake = torch.randn(20000, 2, generator=g) * 2 + torch.tensor([1.0, 0.0])
    # ||mu||^2 = 1, trace term 2 * (1 - 2)^2 = 2
    assert metrics.classifier_fid(real, fake) == pytest.approx(3.0, rel=0.05)


def test_precision_recall_extremes_and_mode_dropping():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(500, 4, generator=g)
    p, r = metrics.precision_recall(real, real.clone())
    assert p == 1.0 and r == 1.0
    p, r = metrics.precision_recall(real, real + 100.0)
    assert p == 0.0 and r == 0.0
    # Samples from only half of the data (x0 > 0): realistic (high precision), not diverse (low recall).
    fake = torch.randn(2000, 4, generator=g)
    fake = fake[fake[:, 0] > 0][:500]
    p, r = metrics.precision_recall(real, fake)
    assert p > 0.8 and r < 0.75
    with pytest.raises(ValueError, match="at least 4 samples"):
        metrics.precision_recall(real[:3], fake)


def test_confident_rate_and_coverage():
    probs = torch.tensor([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.0, 0.02, 0.98], [0.0, 0.91, 0.09]])
    assert metrics.confident_rate(probs) == 0.75
    assert metrics.class_counts(probs).tolist() == [1, 1, 1]
    assert metrics.class_coverage(probs) == 3
    assert metrics.class_coverage(probs, threshold=0.97) == 1


def test_check_images_shapes_and_ranges():
    assert metrics.check_images(torch.rand(2, 28, 28)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.check_images(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="tanh"):
        metrics.check_images(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert metrics.check_images(torch.full((1, 1, 28, 28), 1.0005)).max() == 1.0


def test_reference_cnn_shapes_and_classify():
    torch.manual_seed(0)
    model = metrics.ReferenceCNN()
    x = torch.rand(5, 1, 28, 28)
    logits, loss = model(x, torch.arange(5))
    assert logits.shape == (5, 10) and loss.dim() == 0
    probs, feats = metrics.classify(model, x, batch_size=2)
    assert probs.shape == (5, 10) and feats.shape == (5, 128)
    assert torch.allclose(probs.sum(1), torch.ones(5))
    out = metrics.evaluate_samples(model, torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28))
    assert set(out) == {"confident_rate", "class_coverage", "classifier_fid", "precision", "recall"}



def test_evaluate_samples_intervals():
    # with n_boot each metric gets the interval the docstring names: Wilson for the shares,
    # the basic bootstrap over both feature sets for the FID (8 features: both sets are
    # above 2 F)
    from genai_lib import evaluation

    torch.manual_seed(0)
    model = metrics.ReferenceCNN(metrics.ClassifierConfig(features=8))
    fake, real = torch.rand(40, 1, 28, 28), torch.rand(30, 1, 28, 28)
    out = metrics.evaluate_samples(model, fake, real, n_boot=20, seed=3)
    p_fake, f_fake = metrics.classify(model, fake)
    _, f_real = metrics.classify(model, real)
    for name, n in (("confident_rate", 40), ("precision", 40), ("recall", 30)):
        k = round(out[name] * n)
        assert (out[f"{name}_low"], out[f"{name}_high"]) == evaluation.binomial_ci(k, n)
        assert out[f"{name}_low"] <= out[name] <= out[f"{name}_high"]
    expected = evaluation.bootstrap_ci(metrics.classifier_fid, f_real, f_fake, n_boot=20, seed=3, method="basic")
    assert (out["classifier_fid_low"], out["classifier_fid_high"]) == pytest.approx([max(e, 0.0) for e in expected])
    assert 0 <= out["classifier_fid_low"] < out["classifier_fid_high"]
    # without n_boot, no interval keys
    assert "classifier_fid_low" not in metrics.evaluate_samples(model, fake, real)
    # fewer samples than 2 F = 256 (the default 128 features): only the confident rate gets one
    few = metrics.evaluate_samples(metrics.ReferenceCNN(), fake, real, n_boot=20)
    assert "confident_rate_low" in few
    assert not {"classifier_fid_low", "precision_low", "recall_low"} & set(few)


def test_basic_bootstrap_interval_covers_the_large_sample_fid():
    # the statistical property the Results page relies on: FID is biased upwards at finite N;
    # over 12 draws (16 features, 150 points per set) the basic interval covers the true FID
    # nearly every time (measured 11 of 12) and the percentile interval, which sits above the
    # estimate, never (measured 0)
    from genai_lib import evaluation

    d, n, covered, covered_percentile, biased = 16, 150, 0, 0, 0
    true_fid = d * 0.3**2 + d * (1.2 - 1) ** 2  # |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        real = torch.randn(n, d, generator=g)
        fake = torch.randn(n, d, generator=g) * 1.2 + 0.3
        basic = evaluation.bootstrap_ci(metrics.classifier_fid, real, fake, n_boot=100, method="basic", seed=seed)
        percentile = evaluation.bootstrap_ci(metrics.classifier_fid, real, fake, n_boot=100, seed=seed)
        covered += basic[0] < true_fid < basic[1]
        covered_percentile += percentile[0] < true_fid < percentile[1]
        biased += metrics.classifier_fid(real, fake) > true_fid
    assert covered >= 9 and covered_percentile <= 1 and biased == 12, (covered, covered_percentile, biased)


def test_format_table_shows_intervals():
    # c_low and c_high beside c show as "c [low, high]"; a row without them shows c alone
    table = metrics.format_table({"model": {"fid": 9.5, "fid_low": 8.25, "fid_high": 11.0, "p_low": 0.1},
                                  "real": {"fid": 2.0, "p_low": 0.2}})
    assert table.columns == ["fid", "p_low"]  # p_low has no p beside it: an ordinary column
    text = str(table)
    assert "9.500 [8.250, 11.000]" in text and "fid_low" not in text
    assert "<td>2.000</td>" in table._repr_html_()
    with pytest.raises(ValueError, match="same columns"):
        metrics.format_table({"a": {"x": 1.0, "x_low": 0.5, "x_high": 2.0}, "b": {"y": 1.0}})

def test_accuracy():
    class Oracle(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).float()

    x = torch.zeros(4, 1, 28, 28)
    x[:, 0, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert metrics.accuracy(Oracle(), x, torch.tensor([1, 2, 0, 4]), batch_size=3) == 0.75


def test_format_table_prints_text_and_shows_html():
    table = metrics.format_table({"real": {"fid": 2.0, "precision": 0.9}, "model": {"fid": 99.5, "precision": 0.5}})
    lines = str(table).splitlines()
    assert len(lines) == 3 and "fid" in lines[0] and "precision" in lines[0]
    assert lines[2].startswith("model") and "99.500" in lines[2] and "0.500" in lines[2]
    # columns wide enough for their headers: a long header never runs into its neighbour
    wide = str(metrics.format_table({"a": {"a rather long column": 1.0, "another long one": 2.0}})).splitlines()[0]
    assert "a rather long column  another long one" in wide
    page = table._repr_html_()                        # what a notebook and the book render: a real table
    assert page.startswith("<table") and page.count("<tr>") == 3 and "<td>99.500</td>" in page
    assert "&lt;b&gt;" in metrics.format_table({"<b>": {"x": 1.0}})._repr_html_()   # names are escaped


def test_reference_classifier_uses_the_cache_and_keeps_the_callers_rng(tmp_path, monkeypatch):
    """With cached weights and a tiny test set, no training happens and the global RNG is untouched."""
    from genai_lib import train

    monkeypatch.setenv("GENAI_CACHE_DIR", str(tmp_path))
    torch.manual_seed(5)
    cached = metrics.ReferenceCNN()
    path = tmp_path / "reference-mnist-v1.pt"
    torch.save({"format": train.FORMAT, **train.model_identity(cached), "model": cached.state_dict(),
                "history": {"steps": [], "losses": {}, "evals": [], "seconds": 0.0}}, path)
    x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    monkeypatch.setattr(metrics, "load_mnist", lambda split, dataset, device: (x, y))
    monkeypatch.setattr(metrics, "fit", lambda *a, **k: pytest.fail("must not train when weights are cached"))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    model = metrics.reference_classifier()
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(model.head.weight, cached.head.weight)
    assert model.test_accuracy == metrics.accuracy(cached, x, y)


def test_psnr_by_hand():
    ref = torch.full((2, 1, 28, 28), 0.5)
    x = ref.clone()
    x[0] += 0.1  # MSE 0.01 -> 20 dB
    out = metrics.psnr(x, ref)
    assert out[0].item() == pytest.approx(20.0, abs=1e-4) and math.isinf(out[1].item())


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand((4, 1, 28, 28), generator=g)
    assert torch.allclose(metrics.ssim(ref, ref), torch.ones(4))
    noisy = [(ref + s * torch.randn(ref.shape, generator=g)).clamp(0, 1) for s in (0.05, 0.2, 0.5)]
    values = [metrics.ssim(n, ref).mean().item() for n in noisy]
    assert values[0] > values[1] > values[2] and values[0] < 1


def test_ssim_of_flat_images_by_hand():
    """Flat images have no variance, so only the luminance term is left: (2ab + C1) / (a^2 + b^2 + C1)."""
    a, b = 0.3, 0.6
    got = metrics.ssim(torch.full((1, 1, 28, 28), a), torch.full((1, 1, 28, 28), b)).item()
    assert got == pytest.approx((2 * a * b + 1e-4) / (a * a + b * b + 1e-4), rel=1e-5)
    inverted = torch.rand((1, 1, 28, 28), generator=torch.Generator().manual_seed(2))
    assert metrics.ssim(inverted, 1 - inverted).item() < 0  # anti-correlated structure


def test_table_shows_not_applicable_cells_as_a_dash():
    table = metrics.format_table({"a": {"x": 1.5, "y": float("nan")}, "b": {"x": 2.0, "y": 3.0}})
    assert "–" in str(table) and "nan" not in str(table) and "<td>–</td>" in table._repr_html_()

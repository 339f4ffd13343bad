"""vaelearn.holes: the digit classifier, latent distances and the hole measure (lesson 03).

Oracles: central finite differences, scikit-learn's LogisticRegression (same convex objective,
so the same unique optimum), scipy.spatial.distance.cdist, hand-built grids. The last test trains
an autoencoder and a VAE with a 2-D latent and checks the lesson's claim: sampling the VAE's
prior lands far fewer samples in holes than sampling the autoencoder's bounding box.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import vaelearn
from vaelearn import holes as H


@pytest.fixture(scope="module")
def digits():
    d = vaelearn.data.load_digits()
    return d.x_train, d.y_train, d.x_test, d.y_test


@pytest.fixture(scope="module")
def classifier(digits):
    x_train, y_train, _, _ = digits
    return H.train_digit_classifier(x_train, y_train)


# --- the classifier -------------------------------------------------------------------------------


def test_softmax_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7)
    clf = H.SoftmaxRegression(5, 3, l2=0.1)
    clf.params = {"W": rng.normal(size=(5, 3)), "b": rng.normal(size=3)}
    _, grads = clf.loss_and_grads(x, y)
    h = 1e-6
    for key in ("W", "b"):
        numeric = np.zeros_like(clf.params[key])
        for idx in np.ndindex(numeric.shape):
            saved = clf.params[key][idx]
            clf.params[key][idx] = saved + h
            up, _ = clf.loss_and_grads(x, y)
            clf.params[key][idx] = saved - h
            down, _ = clf.loss_and_grads(x, y)
            clf.params[key][idx] = saved
            numeric[idx] = (up - down) / (2 * h)
        # Central differences of a smooth float64 function: error O(h^2) + rounding 1e-16/h ~ 1e-10.
        np.testing.assert_allclose(grads[key], numeric, atol=1e-8)


def test_softmax_loss_is_cross_entropy_in_nats():
    clf = H.SoftmaxRegression(2, 2, l2=1e-12)  # zero weights: p = (1/2, 1/2) for every input
    loss, _ = clf.loss_and_grads(np.ones((4, 2)), np.array([0, 1, 0, 1]))
    assert loss == pytest.approx(np.log(2), rel=1e-12)


def test_classifier_matches_sklearn_and_classifies_digits(digits, classifier):
    from sklearn.linear_model import LogisticRegression

    x_train, y_train, x_test, y_test = digits
    # Same objective: sklearn minimises C * sum CE + ||W||^2 / 2 (intercept unpenalised), i.e.
    # ours (mean CE + l2/2 ||W||^2) times C * n with C = 1 / (n * l2).
    sk = LogisticRegression(C=1.0 / (len(x_train) * classifier.l2), tol=1e-12, max_iter=20000)
    sk.fit(x_train, y_train)
    # Both solvers stop at gradient ~1e-10; probabilities of the unique optimum agree to ~1e-6.
    np.testing.assert_allclose(classifier.predict_proba(x_test), sk.predict_proba(x_test),
                               atol=1e-4)
    # Multinomial logistic regression on 8x8 digits: ~0.9 held-out accuracy (sklearn agrees).
    assert classifier.accuracy(x_test, y_test) > 0.88
    np.testing.assert_allclose(classifier.predict_proba(x_test).sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, x, y, match",
    [
        ({}, np.ones((2, 3)), [0, 1], "'x' must have 64 columns"),
        ({}, np.full((2, 64), np.nan), [0, 1], "'x' contains NaN"),
        ({}, np.ones((2, 64)), [0, 10], r"labels in 0..9"),
        ({}, np.ones((2, 64)), [0.5, 1], "integer class labels"),
        ({}, np.ones((2, 64)), [0], r"shape \(2,\)"),
    ],
)
def test_classifier_rejects_bad_input(kwargs, x, y, match):
    with pytest.raises(ValueError, match=match):
        H.SoftmaxRegression(**kwargs).loss_and_grads(x, y)


def test_classifier_rejects_bad_settings():
    with pytest.raises(ValueError, match="'l2' must be positive"):
        H.SoftmaxRegression(l2=0.0)
    with pytest.raises(ValueError, match="'n_classes' must be at least 2"):
        H.SoftmaxRegression(4, 1)


# --- distances ------------------------------------------------------------------------------------


def test_nearest_code_distance_matches_cdist():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(300, 2))
    z = rng.normal(size=(2500, 2)) * 2
    dist, idx = H.nearest_code_distance(z, codes, chunk=700)  # several chunks
    full = cdist(z, codes)
    np.testing.assert_allclose(dist, full.min(axis=1), atol=1e-12)
    np.testing.assert_array_equal(idx, full.argmin(axis=1))
    with pytest.raises(ValueError, match="same z_dim"):
        H.nearest_code_distance(z, np.ones((3, 3)))


def test_code_spacing_of_a_grid_is_its_step():
    g = np.arange(5) * 0.3
    codes = np.array([(a, b) for a in g for b in g])
    assert H.code_spacing(codes) == pytest.approx(0.3, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        H.code_spacing(np.ones((1, 2)))


def test_uniform_box_samples_fill_the_box():
    codes = np.array([[-1.0, 2.0], [3.0, 5.0], [0.0, 4.0]])
    z = H.uniform_box_samples(codes, 20000, np.random.default_rng(2))
    assert z.shape == (20000, 2)
    assert np.all(z >= [-1, 2]) and np.all(z <= [3, 5])
    # Uniform on [-1, 3] x [2, 5]: means 1 and 3.5, standard errors 0.008 and 0.006; allow 0.05.
    np.testing.assert_allclose(z.mean(axis=0), [1.0, 3.5], atol=0.05)
    with pytest.raises(ValueError, match="'rng'"):
        H.uniform_box_samples(codes, 3, 0)


def test_total_variation_and_class_frequencies():
    assert H.total_variation([1, 0], [0, 1]) == 1.0
    assert H.total_variation([0.5, 0.5], [0.25, 0.75]) == 0.25
    np.testing.assert_allclose(H.class_frequencies([0, 0, 2, 1], 4), [0.5, 0.25, 0.25, 0.0])
    with pytest.raises(ValueError, match="'p' must sum to 1"):
        H.total_variation([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        H.total_variation([-0.5, 1.5], [0.5, 0.5])


# --- the hole measure -----------------------------------------------------------------------------


class _ConstantClassifier(H.SoftmaxRegression):
    """Predicts class 0 with probability 0.7 for every input: a known judge."""

    def __init__(self):
        super().__init__(3, 4)

    def predict_proba(self, x):
        x = self._x(x)
        return np.tile([0.7, 0.1, 0.1, 0.1], (x.shape[0], 1))


def test_measure_holes_on_a_hand_built_case():
    g = np.arange(4.0)
    codes = np.array([(a, b) for a in g for b in g])  # spacing 1
    z = np.array([[0.0, 0.0], [1.5, 1.0], [6.0, 3.0], [3.0, 7.0]])
    report = H.measure_holes(z, lambda zz: np.zeros((len(zz), 3)), codes, _ConstantClassifier(),
                             y_train=[0, 1, 2, 3])
    np.testing.assert_allclose(report.distance, [0.0, 0.5, 3.0, 4.0])
    assert report.spacing == 1.0
    assert report.far_fraction == 0.5  # distances 3 and 4 exceed 2 spacings
    assert report.median_distance == pytest.approx(1.75)
    assert report.mean_confidence == pytest.approx(0.7)
    # Everything decodes to class 0 while labels are uniform over 4 classes: TV = 1 - 1/4.
    assert report.class_tv == pytest.approx(0.75)
    assert set(report.summary()) == {"median_distance", "far_fraction", "class_tv",
                                     "mean_confidence"}


def test_measure_holes_rejects_bad_decoder():
    codes = np.random.default_rng(3).normal(size=(10, 2))
    with pytest.raises(ValueError, match="'decode' must return shape"):
        H.measure_holes(codes, lambda z: np.zeros((1, 3)), codes, _ConstantClassifier(), [0, 1])
    with pytest.raises(ValueError, match="'far_threshold'"):
        H.measure_holes(codes, lambda z: np.zeros((10, 3)), codes, _ConstantClassifier(), [0],
                        far_threshold=0)


def test_hole_map_on_a_grid_of_codes():
    g = np.arange(3.0)
    codes = np.array([(a, b) for a in g for b in g])
    hm = H.hole_map(lambda z: np.zeros((len(z), 3)), codes, _ConstantClassifier(),
                    lo=[0, 0], hi=[4, 2], n=5)
    assert hm.distance.shape == hm.predicted.shape == hm.confidence.shape == (5, 5)
    np.testing.assert_allclose(hm.z1, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(hm.z2, [0, 0.5, 1, 1.5, 2])
    # Row i is z2[i], column j is z1[j]: the point (4, 0) is 2 from the nearest code (2, 0).
    assert hm.distance[0, 4] == pytest.approx(2.0)
    assert hm.distance[2, 1] == 0.0  # (1, 1) is a code
    assert hm.extent == (0.0, 4.0, 0.0, 2.0)


# --- the lesson's claim ---------------------------------------------------------------------------


@pytest.mark.slow
def test_vae_prior_samples_fall_into_fewer_holes_than_autoencoder_box(digits, classifier):
    """Lesson 03: same data, same architecture, 2-D latent, 150 epochs (NumPy backend).

    Measured over four seeds (0-3) of models and batches: median distance to the nearest code
    2.7-3.5 code spacings for the autoencoder's box samples vs 1.4-1.6 for the VAE's prior samples
    (worst ratio 0.57); fraction farther than 2 spacings 0.60-0.67 vs 0.36-0.37 (worst ratio 0.62);
    class TV 0.24-0.33 vs 0.06-0.15 (worst ratio 0.57). The bounds leave a margin of about 25%
    on the worst seed.
    """
    B = vaelearn.get_backend("numpy")
    x_train, y_train, _, _ = digits
    ae = B.Autoencoder(64, hidden_dims=(128,), z_dim=2, loss="bce", seed=0)
    B.fit(ae, x_train, epochs=150, batch_size=64, lr=2e-3, progress=False, seed=0)
    vae = B.VAE(64, hidden_dims=(128,), z_dim=2, likelihood="bernoulli", seed=0)
    B.fit(vae, x_train, epochs=150, batch_size=64, lr=2e-3, progress=False, seed=0)
    rng = np.random.default_rng(1)
    ae_codes = ae.encode(x_train)
    vae_codes, _ = vae.encode(x_train)
    ae_rep = H.measure_holes(H.uniform_box_samples(ae_codes, 2000, rng), ae.decode, ae_codes,
                             classifier, y_train)
    vae_rep = H.measure_holes(rng.standard_normal((2000, 2)), vae.decode, vae_codes,
                              classifier, y_train)
    assert vae_rep.median_distance < 0.75 * ae_rep.median_distance
    assert vae_rep.far_fraction < 0.8 * ae_rep.far_fraction
    assert vae_rep.class_tv < 0.75 * ae_rep.class_tv


# --- lesson 03's pictures (smoke tests) -----------------------------------------------------------


def test_lesson03_plots_draw_small_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    rng = np.random.default_rng(4)
    codes = rng.normal(size=(50, 2))
    labels = rng.integers(0, 10, size=50)
    hm = H.hole_map(lambda z: np.zeros((len(z), 3)), codes, _ConstantClassifier(), n=8)
    rep = H.measure_holes(rng.normal(size=(40, 2)), lambda z: np.zeros((len(z), 3)), codes,
                          _ConstantClassifier(), [0, 1, 2, 3])
    figs = [
        plotting.latent_panels([("a", codes, labels, codes[:5]), ("b", codes, labels)]),
        plotting.hole_maps([("a", hm, codes, labels), ("b", hm, codes, labels)]),
        plotting.distance_histograms({"a": rep, "b": rep}),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3 and fig.dpi == 150
        plt.close(fig)
    with pytest.raises(ValueError, match=r"within the lessons' \(8, 3\) inch limit"):
        plotting.latent_panels([("a", codes, labels)], width=9)

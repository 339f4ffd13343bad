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


# --- the decoder-side view (after Li, Peng and Lin 2021) -----------------------------------------


def _scipy_bernoulli_js(p, q):
    # scipy's jensenshannon is the square root of the JS divergence (natural log by default),
    # between two discrete distributions: here each pixel's (p, 1 - p) against (q, 1 - q).
    from scipy.spatial.distance import jensenshannon

    return sum(jensenshannon([a, 1 - a], [b, 1 - b]) ** 2 for a, b in zip(p, q, strict=True))


def test_bernoulli_js_matches_scipy_and_its_bounds():
    rng = np.random.default_rng(0)
    p = rng.random((5, 7))
    q = rng.random((5, 7))
    p[0, :3] = [0.0, 1.0, 0.5]  # edges: 0 log 0 = 0
    q[0, :3] = [1.0, 1.0, 0.0]
    got = H.bernoulli_js(p, q)
    want = [_scipy_bernoulli_js(a, b) for a, b in zip(p, q, strict=True)]
    # two float64 evaluations of the same sums of logs: agree to round-off
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(H.bernoulli_js(q, p), got, rtol=1e-12)  # symmetric
    assert np.all(H.bernoulli_js(p, p) == 0.0)
    # opposite certain pixels: log 2 each, the largest possible value
    assert H.bernoulli_js(np.zeros((1, 4)), np.ones((1, 4)))[0] == pytest.approx(4 * np.log(2))
    with pytest.raises(ValueError, match="'q' must hold probabilities"):
        H.bernoulli_js(p, q + 1)
    with pytest.raises(ValueError, match="differ in shape"):
        H.bernoulli_js(p, q[:, :3])


def test_tukey_upper_fence_matches_statistics_quantiles():
    import statistics

    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    # Python's "inclusive" quartiles are NumPy's default linear interpolation
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert H.tukey_upper_fence(values) == pytest.approx(q3 + 1.5 * (q3 - q1), rel=1e-12)
    assert H.tukey_upper_fence(np.arange(1.0, 9.0)) == pytest.approx(6.25 + 1.5 * 3.5)
    assert H.tukey_upper_fence([2.0, 2.0, 2.0], k=3) == 2.0
    with pytest.raises(ValueError, match="'values'"):
        H.tukey_upper_fence([])
    with pytest.raises(ValueError, match="'k'"):
        H.tukey_upper_fence([1.0, 2.0], k=-1)


_A = np.array([0.9, 0.1, 0.8, 0.2])
_B = np.array([0.1, 0.9, 0.3, 0.6])


def _two_sided_decoder(z):
    """Piecewise constant: image A where z_1 < 0, image B where z_1 >= 0 (a known discontinuity)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z[:, :1] < 0, _A, _B)


def test_decoder_holes_flag_exactly_the_band_around_a_discontinuity():
    h = 0.25
    axes = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    codes = np.column_stack([np.r_[np.linspace(-3, -1, 20), np.linspace(1, 3, 20)],
                             np.linspace(-1, 1, 40)])  # all farther than h from z_1 = 0
    z1 = np.array([-2.0, -0.3, -0.25, -0.1, -1e-9, 0.0, 0.1, 0.2499, 0.25, 1.0])
    z = np.column_stack([z1, np.zeros_like(z1)])
    rep = H.decoder_holes(z, _two_sided_decoder, codes, step=h, directions=axes)
    jab = _scipy_bernoulli_js(_A, _B)
    # a step of h along +-z_1 crosses z_1 = 0 from z_1 in [-h, 0) and [0, h), nowhere else
    crosses = (z1 >= -h) & (z1 < h)
    np.testing.assert_allclose(rep.jump, np.where(crosses, jab, 0.0), rtol=1e-10, atol=1e-15)
    assert rep.fence == 0.0 and np.all(rep.code_jump == 0.0)
    np.testing.assert_array_equal(rep.flagged, crosses)
    assert rep.hole_fraction == pytest.approx(crosses.mean())


def test_decoder_jump_rejects_bad_input():
    with pytest.raises(ValueError, match="'step'"):
        H.decoder_jump(_two_sided_decoder, np.zeros((2, 2)), 0.0, directions=[[1.0, 0.0]])
    with pytest.raises(ValueError, match="'directions' contains a zero"):
        H.decoder_jump(_two_sided_decoder, np.zeros((2, 2)), 1.0, directions=[[0.0, 0.0]])
    with pytest.raises(ValueError, match="'rng'"):
        H.decoder_jump(_two_sided_decoder, np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="'decode' must return"):
        H.decoder_jump(lambda z: np.zeros((1, 4)), np.zeros((2, 2)), 1.0,
                       directions=[[1.0, 0.0]])


def test_two_clusters_with_a_gap_where_the_two_measures_disagree():
    """Codes in two clusters around z_1 = -3 and +3; the decoder drifts gently everywhere and
    switches from A to B smoothly but steeply (width 0.05) at z_1 = 0. The distance measure calls
    the whole gap a hole; the decoder-side measure flags only the narrow band of the switch."""
    rng = np.random.default_rng(5)
    codes = np.concatenate([rng.normal([-3.0, 0.0], 0.3, size=(200, 2)),
                            rng.normal([3.0, 0.0], 0.3, size=(200, 2))])

    def decode(z):
        z = np.asarray(z)
        s = 1.0 / (1.0 + np.exp(-z[:, :1] / 0.05))
        return (1 - s) * _A + s * _B + 0.05 * np.sin(z[:, :1] + z[:, 1:])

    line = np.column_stack([np.linspace(-2.5, 2.5, 501), np.zeros(501)])
    spacing = H.code_spacing(codes)
    rep = H.decoder_holes(line, decode, codes, step=0.5 * spacing, n_directions=8,
                          rng=np.random.default_rng(6))
    far = H.nearest_code_distance(line, codes)[0] / spacing > 2
    z1 = line[:, 0]
    # A 2-D sample of 200 points at std 0.3 has a spacing ~0.05, so the clusters end within about
    # 1 of their centres: everything with |z_1| < 1.5 is far (measured: far for |z_1| < 2.1).
    assert np.all(far[np.abs(z1) < 1.5])
    # Over a step of 0.5 spacing the drift moves a pixel by <= 0.05 * step, the switch by
    # step * s'(z_1) = step * s (1 - s) / 0.05, which exceeds the drift's largest change only for
    # |z_1| < 0.05 ln(1 / 0.05) ~ 0.15 (s (1 - s) < 0.0025 beyond); the fence is Q3 + 1.5 IQR of
    # the codes' drift jumps, so some drift-sized jumps pass too: measured, flags reach 0.28
    # (fence 9.4e-6 nats); |z_1| < 0.5 leaves room for other seeds
    assert np.all(np.abs(z1[rep.flagged]) < 0.5)
    assert np.all(rep.flagged[np.abs(z1) < 0.05])  # the steep part is always flagged
    assert far.mean() > 2 * rep.hole_fraction  # the distance measure flags far more


def test_hole_tree_search_stops_at_a_discontinuity():
    rng = np.random.default_rng(8)
    roots = rng.uniform([-2.0, -1.0], [-1.0, 1.0], size=(10, 2))
    h = 0.3
    tree = H.hole_tree_search(_two_sided_decoder, roots, step=h, fence=1e-12, depth=12,
                              branching=6, rng=rng)
    z1 = tree.z[:, 0]
    jab = _scipy_bernoulli_js(_A, _B)
    # exact: a hole is a step across z_1 = 0, so it lands in [0, h); every other node has z_1 < 0
    # and nothing lies beyond a hole, because holes are not expanded
    assert tree.hole.any()
    assert np.all((z1[tree.hole] >= 0) & (z1[tree.hole] < h))
    assert np.all(z1[~tree.hole] < 0)
    np.testing.assert_allclose(tree.jump[tree.hole], jab, rtol=1e-10)
    assert np.all(tree.jump[~tree.hole] == 0.0)
    # structure: roots have parent -1 and depth 0; each step has length h from its parent
    roots_mask = tree.parent < 0
    assert roots_mask.sum() == 10 and np.all(tree.depth[roots_mask] == 0)
    child = np.flatnonzero(~roots_mask)
    np.testing.assert_allclose(np.linalg.norm(tree.z[child] - tree.z[tree.parent[child]], axis=1),
                               h, rtol=1e-12)
    np.testing.assert_array_equal(tree.depth[child], tree.depth[tree.parent[child]] + 1)
    assert not tree.hole[tree.parent[child]].any(), "a hole node was expanded"
    assert tree.hole_fraction == pytest.approx(tree.hole.sum() / len(child))
    # each step opens a new cell of side h / 2 (roots may share one)
    cells = np.floor(tree.z / (h / 2)).astype(int)
    n_root_cells = len(np.unique(cells[roots_mask], axis=0))
    assert len(np.unique(cells, axis=0)) == n_root_cells + len(child)
    # a high fence finds no hole, and max_nodes caps the tree
    small = H.hole_tree_search(_two_sided_decoder, roots, step=h, fence=10.0, depth=12,
                               branching=6, rng=rng, max_nodes=50)
    assert len(small.z) <= 50 and not small.hole.any()
    with pytest.raises(ValueError, match="'fence'"):
        H.hole_tree_search(_two_sided_decoder, roots, step=h, fence=-1.0, depth=2, branching=2,
                           rng=rng)
    with pytest.raises(ValueError, match="'branching'"):
        H.hole_tree_search(_two_sided_decoder, roots, step=h, fence=0.0, depth=2, branching=0,
                           rng=rng)


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
    # Lesson 03's decoder-side view on the same samples: few discontinuities (lesson: 2.1% and
    # 1.0% flagged), and for the autoencoder flags unrelated to distance (2.1% far, 2.2% near)
    # with far samples jumping less (median ratio 0.63). Measured on this seed only; the bounds
    # leave a factor of about 2 on each number.
    directions = np.random.default_rng(19).standard_normal((8, 2))
    decs = []
    for rep, model, codes in ((ae_rep, ae, ae_codes), (vae_rep, vae, vae_codes)):
        dec = H.decoder_holes(rep.z, model.decode, codes, step=0.5 * H.code_spacing(codes),
                              directions=directions)
        far = rep.distance > 2
        assert dec.hole_fraction < 0.05 and far.mean() > 5 * dec.hole_fraction
        decs.append((dec, far))
    dec, far = decs[0]
    assert abs(dec.flagged[far].mean() - dec.flagged[~far].mean()) < 0.02
    assert np.median(dec.jump[far]) < 0.85 * np.median(dec.jump[~far])


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
        plotting.decoder_jump_maps([("a", hm, np.full((8, 8), 0.5), 1.0, codes, labels),
                                    ("b", hm, np.linspace(0, 2, 64).reshape(8, 8), 1.0, codes,
                                     labels)]),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3 and fig.dpi == 150
        plt.close(fig)
    with pytest.raises(ValueError, match=r"within the lessons' \(8, 3\) inch limit"):
        plotting.latent_panels([("a", codes, labels)], width=9)
    with pytest.raises(ValueError, match="jump must have the map's shape"):
        plotting.decoder_jump_maps([("a", hm, np.ones((3, 3)), 1.0, codes, labels)])
    with pytest.raises(ValueError, match="fence must be positive"):
        plotting.decoder_jump_maps([("a", hm, np.ones((8, 8)), 0.0, codes, labels)])

"""Disentanglement (lesson 08): the factor images, the mutual information gap, latent traversals
and their figures.

Oracles: the blob formula evaluated pixel by pixel here, exact mutual information of small
discrete codes worked out by hand (``I(v1 + v2; v1) = ln(2) / 2`` for two fair independent bits,
checked by ``vaelearn.derivations.disentanglement``), scipy's entropy of the counts, and a
contingency-table mutual information written out with NumPy here (not sklearn).
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import entropy  # noqa: E402

import vaelearn  # noqa: E402
from vaelearn import data, derivations, disentanglement, latent, plotting  # noqa: E402

LN2 = np.log(2.0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------
# factor_images
# ------------------------------------------------------------------------------------------


def test_factor_images_shapes_ranges_and_levels():
    x, f = data.factor_images(500, size=8, positions=6, widths=(0.6, 1.0), seed=3)
    assert x.shape == (500, 64) and f.shape == (500, 3)
    assert x.dtype == np.float64 and f.dtype == np.float64
    assert np.all(x > 0) and np.all(x <= 1)
    # six evenly spaced centres in [1, size - 2] = [1, 6]: the integers 1..6
    for k in (0, 1):
        assert np.array_equal(np.unique(f[:, k]), np.arange(1.0, 7.0))
    assert np.array_equal(np.unique(f[:, 2]), [0.6, 1.0])
    # a centre on a pixel makes that pixel exactly 1 (exp(0)), the brightest of the image
    img = x.reshape(500, 8, 8)
    rows, cols = f[:, 1].astype(int), f[:, 0].astype(int)
    assert np.all(img[np.arange(500), rows, cols] == 1.0)
    assert np.array_equal(img.reshape(500, -1).argmax(1), rows * 8 + cols)
    assert data.FACTOR_NAMES == ("x-position", "y-position", "width")
    assert "factor_images" in data.__all__ and "FACTOR_NAMES" in data.__all__


def test_factor_images_match_the_blob_formula_pixel_by_pixel():
    x, f = data.factor_images(20, size=12, positions=5, widths=(0.5, 0.9, 1.7), seed=1)
    for k in range(20):
        cx, cy, w = f[k]
        want = [[np.exp(-((j - cx) ** 2 + (i - cy) ** 2) / (2 * w * w)) for j in range(12)]
                for i in range(12)]
        # the same formula in another order: only round-off differs
        assert np.allclose(x[k].reshape(12, 12), want, rtol=1e-13, atol=0)
    assert set(np.unique(f[:, 0])) <= set(np.linspace(1, 10, 5))


def test_factor_images_factors_are_independent_and_uniform():
    _, f = data.factor_images(30000, positions=4, widths=(0.6, 1.0), seed=0)
    # every one of the 4 * 4 * 2 combinations has probability 1/32; a chi-square test at the
    # 1e-4 level fails only if the factors are not drawn independently and uniformly
    from scipy.stats import chisquare

    combos, counts = np.unique(f, axis=0, return_counts=True)
    assert combos.shape[0] == 32
    assert chisquare(counts).pvalue > 1e-4


def test_factor_images_deterministic_given_the_seed():
    a = data.factor_images(50, seed=7)
    b = data.factor_images(50, seed=np.random.default_rng(7))
    c = data.factor_images(50, seed=8)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("column", [0, 1, 2])
def test_factor_images_depend_on_each_factor(column):
    # change one factor of one image, keep the others: the image changes (and only through it)
    x, f = data.factor_images(200, seed=2)
    changed = f[:, column] != f[0, column]
    others = [k for k in range(3) if k != column]
    same_others = np.all(f[:, others] == f[0, others], axis=1)
    pair = np.flatnonzero(changed & same_others)
    assert pair.size > 0
    assert np.abs(x[pair[0]] - x[0]).max() > 0.1
    # and equal factors give equal images: the picture is a function of the factors alone
    twins = np.flatnonzero(np.all(f == f[0], axis=1))
    assert twins.size > 1 and np.all(x[twins] == x[0])


def test_factor_images_one_width_is_allowed():
    _, f = data.factor_images(10, widths=[0.8], seed=0)
    assert np.all(f[:, 2] == 0.8)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": 2.5}, "n"),
        ({"size": 3}, "size"),
        ({"size": True}, "size"),
        ({"positions": 1}, "positions"),
        ({"widths": ()}, "widths"),
        ({"widths": (0.5, -1.0)}, "widths"),
        ({"widths": (0.5, 0.5)}, "widths"),
        ({"widths": (np.nan,)}, "widths"),
        ({"widths": "wide"}, "widths"),
        ({"seed": -1}, "seed"),
    ],
)
def test_factor_images_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        data.factor_images(**kwargs)


# ------------------------------------------------------------------------------------------
# mutual information, entropies, MIG
# ------------------------------------------------------------------------------------------


def _mi_by_hand(a, b):
    """Plug-in mutual information (nats) of two label arrays from their contingency table."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    p = table / table.sum()
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa * pb)[nz])).sum())


def _bits(m=50):
    """Two fair independent bits, every combination exactly m times (exact empirical laws)."""
    v = np.array(list(itertools.product([0, 1], repeat=2)) * m, dtype=np.float64)
    return v


def test_discretize_equal_width_bins_by_hand():
    z = np.array([[0.0, 5.0], [0.49, 5.0], [0.5, 5.0], [0.99, 5.0], [1.0, 5.0]])
    got = disentanglement.discretize(z, n_bins=2)
    # bins [0, 0.5) and [0.5, 1], the maximum in the last; a constant column in one bin
    assert np.array_equal(got, [[0, 0], [0, 0], [1, 0], [1, 0], [1, 0]])
    # shifting and positively rescaling a column does not move its points between bins
    rng = np.random.default_rng(0)
    u = rng.normal(size=(300, 3))
    assert np.array_equal(disentanglement.discretize(u, 20),
                          disentanglement.discretize(3.0 * u - 7.0, 20))


def test_mutual_info_matrix_against_a_contingency_table():
    rng = np.random.default_rng(1)
    f = rng.integers(0, 4, size=(400, 2)).astype(float)
    z = np.column_stack([f[:, 0] + 0.3 * rng.normal(size=400), rng.normal(size=400)])
    got = disentanglement.mutual_info_matrix(z, f, n_bins=10)
    bins = disentanglement.discretize(z, 10)
    want = [[_mi_by_hand(bins[:, j], f[:, k]) for k in range(2)] for j in range(2)]
    assert got.shape == (2, 2)
    assert np.allclose(got, want, atol=1e-12)  # two sums of the same terms: round-off only


def test_mutual_information_of_a_mixed_code_is_exact():
    # I(v1 + v2; v1) = H(v1 + v2) - H(v2) = 1.5 ln 2 - ln 2 = ln(2) / 2 (derivation below), and
    # the empirical laws of _bits are exact, so the plug-in estimate is exact up to round-off
    derivations.disentanglement.mixed_code_information().verify()
    v = _bits()
    z = np.column_stack([v[:, 0] + v[:, 1], v[:, 0]])
    mi = disentanglement.mutual_info_matrix(z, v)
    assert np.allclose(mi, [[LN2 / 2, LN2 / 2], [LN2, 0.0]], atol=1e-12)
    assert np.allclose(disentanglement.factor_entropies(v), [LN2, LN2], atol=1e-12)
    # factor 1: gap (ln 2 - ln 2 / 2) / ln 2 = 1/2; factor 2: (ln 2 / 2 - 0) / ln 2 = 1/2
    assert abs(disentanglement.mig(z, v) - 0.5) < 1e-12


def test_a_latent_mixing_two_factors_leaves_no_gap():
    # z = (v1 + v2, v1 - v2): a 45-degree rotation of the two bits; each latent tells ln(2)/2
    # about each factor, so the best and second best latents tie and the gap is 0
    v = _bits()
    z = np.column_stack([v[:, 0] + v[:, 1], v[:, 0] - v[:, 1]])
    assert abs(disentanglement.mig(z, v)) < 1e-12
    # with continuous factors mixed by a rotation the gap stays small
    rng = np.random.default_rng(4)
    f = rng.integers(0, 8, size=(4000, 2)).astype(float)
    rot = np.column_stack([f[:, 0] + f[:, 1], f[:, 0] - f[:, 1]])
    assert disentanglement.mig(rot, f) < 0.15


def test_factor_entropies_against_scipy():
    rng = np.random.default_rng(2)
    f = np.column_stack([rng.integers(0, 5, 300), rng.choice([0.1, 7.0], 300), np.zeros(300)])
    want = [entropy(np.unique(f[:, k], return_counts=True)[1]) for k in range(3)]
    assert np.allclose(disentanglement.factor_entropies(f), want, atol=1e-12)
    assert disentanglement.factor_entropies(f)[2] == 0.0


def test_mig_of_the_factors_themselves_is_near_one():
    # latents = the factors, permuted, rescaled and shifted (with one pure-noise latent):
    # each factor is read off one latent. MIG is not exactly 1: 20 equal-width bins over a
    # factor with 6 values put every value in its own bin, so I(z_j(k); v_k) = H(v_k) exactly,
    # but the plug-in MI of a latent with an *unrelated* factor is biased above 0 by about
    # (cells - rows - columns + 1) / (2n) nats (Miller-Madow): 6 * 6 values give
    # 25 / (2 * 5000) = 0.0025 nats, 0.0014 of H = ln 6. The noise latent's 20 bins give
    # 95 / 10000 = 0.0095 nats, 0.005 of ln 6. So MIG ~ 1 - 0.005, and < 1.
    x, f = data.factor_images(5000, seed=0)
    rng = np.random.default_rng(5)
    z = np.column_stack([rng.normal(size=5000), -3.0 * f[:, 2] + 1, 0.5 * f[:, 0], f[:, 1] + 9])
    m = disentanglement.mig(z, f)
    assert 0.98 < m < 1.0
    mi = disentanglement.mutual_info_matrix(z, f)
    assert np.allclose(mi[[2, 3, 1], [0, 1, 2]], disentanglement.factor_entropies(f), atol=1e-12)


def test_mig_of_latents_independent_of_the_factors_is_near_zero():
    # every I is the bias above, about 0.0095 nats, so every gap is a small difference of biases
    _, f = data.factor_images(5000, seed=1)
    z = np.random.default_rng(6).normal(size=(5000, 4))
    assert disentanglement.mig(z, f) < 0.02


def test_mig_is_invariant_to_permuting_and_rescaling_latents():
    rng = np.random.default_rng(7)
    _, f = data.factor_images(2000, seed=2)
    z = np.column_stack([f[:, 0] + rng.normal(0, 0.8, 2000), f[:, 1] + f[:, 0] * 0.3,
                         rng.normal(size=2000)])
    m = disentanglement.mig(z, f)
    for perm in itertools.permutations(range(3)):
        assert abs(disentanglement.mig(z[:, perm], f) - m) < 1e-12
    # a scale by a power of two is exact in floating point, so no point crosses a bin edge
    # (other scales move values that sit exactly on an edge by round-off, into the next bin)
    assert abs(disentanglement.mig(4.0 * z[:, ::-1], f) - m) < 1e-12
    assert 0.05 < m < 0.95  # not a trivial case


def test_mig_from_mi_by_hand():
    mi = np.array([[0.9, 0.1], [0.2, 0.5], [0.3, 0.45]])
    h = np.array([1.0, 0.5])
    # factor 0: (0.9 - 0.3) / 1.0 = 0.6; factor 1: (0.5 - 0.45) / 0.5 = 0.1; mean 0.35
    assert abs(disentanglement.mig_from_mi(mi, h) - 0.35) < 1e-12


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: disentanglement.mig(np.zeros((10, 1)), np.arange(10.0)), "z"),
        (lambda: disentanglement.mig(np.zeros((10, 2)), np.ones(10)), "factors"),
        (lambda: disentanglement.mig(np.zeros((10, 2)), np.arange(9.0)), "factors"),
        (lambda: disentanglement.mig(np.full((10, 2), np.nan), np.arange(10.0)), "z"),
        (lambda: disentanglement.mig(np.zeros((1, 2)), np.arange(1.0)), "z"),
        (lambda: disentanglement.mig(np.zeros((10, 2)), np.arange(10.0), n_bins=1), "n_bins"),
        (lambda: disentanglement.discretize(np.zeros((10, 2)), n_bins=2.0), "n_bins"),
        (lambda: disentanglement.discretize([["a", "b"]] * 3), "z"),
        (lambda: disentanglement.mig_from_mi(np.ones((3, 2)), [1.0]), "entropies"),
        (lambda: disentanglement.mig_from_mi(np.ones((3, 2)), [1.0, 0.0]), "entropies"),
        (lambda: disentanglement.mig_from_mi(-np.ones((3, 2)), [1.0, 1.0]), "mi"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_mig_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    v = _bits()
    z = np.column_stack([v[:, 0] + v[:, 1], v[:, 0]])
    assert disentanglement.mig(torch.tensor(z), torch.tensor(v)) == disentanglement.mig(z, v)


# ------------------------------------------------------------------------------------------
# traverse and the figures
# ------------------------------------------------------------------------------------------


class _LinearDecoder:
    """decode(z) = z @ W: a decoder whose traversals are known in closed form."""

    z_dim, x_dim = 3, 4

    def __init__(self):
        self.w = np.arange(12.0).reshape(3, 4)

    def decode(self, z):
        return np.asarray(z) @ self.w


def test_traverse_by_hand():
    model = _LinearDecoder()
    base = np.array([1.0, -2.0, 0.5])
    values = np.array([-1.0, 0.0, 2.0])
    got = latent.traverse(model, base, values, dims=[2, 0])
    assert got.shape == (2, 3, 4)
    for r, d in enumerate([2, 0]):
        for c, v in enumerate(values):
            z = base.copy()
            z[d] = v
            assert np.allclose(got[r, c], z @ model.w, atol=1e-12)
    assert latent.traverse(model, base, values).shape == (3, 3, 4)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_traverse_a_vae_on_both_backends(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    B = vaelearn.get_backend(backend)
    vae = B.VAE(x_dim=64, hidden_dims=(8,), z_dim=2, seed=0)
    got = latent.traverse(vae, np.zeros(2), [-1.0, 1.0])
    z = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    want = np.asarray(vae.decode(z))
    assert np.allclose(got.reshape(4, 64), want, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"z_base": np.zeros(2)}, "z_base"),
        ({"values": []}, "values"),
        ({"values": [np.inf]}, "values"),
        ({"dims": [3]}, "dims"),
        ({"dims": []}, "dims"),
    ],
)
def test_traverse_bad_input(kwargs, name):
    args = {"z_base": np.zeros(3), "values": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=name):
        latent.traverse(_LinearDecoder(), **args)


def test_traversal_grid_tiles_the_rows_in_order():
    a = np.random.default_rng(0).random((3, 5, 64))
    fig = plotting.traversal_grid({"one": a, "two": 1 - a}, row_labels=["z1", "z2", "z3"])
    w, h = fig.get_size_inches()
    assert w <= 8 and h <= 3 and fig.dpi == 150
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["one", "two"]
    shown = fig.axes[0].images[0].get_array()
    # the image in row r, column c sits at rows 9r..9r+7, columns 9c..9c+7 (one-pixel gaps)
    for r in range(3):
        for c in range(5):
            assert np.allclose(shown[9 * r : 9 * r + 8, 9 * c : 9 * c + 8], a[r, c].reshape(8, 8))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["z1", "z2", "z3"]
    with pytest.raises(ValueError, match="panels"):
        plotting.traversal_grid({"one": a, "two": a[:2]})
    with pytest.raises(ValueError, match="panels"):
        plotting.traversal_grid({})
    with pytest.raises(ValueError, match="row_labels"):
        plotting.traversal_grid({"one": a}, row_labels=["z1"])


def test_mig_vs_beta_draws_one_line_per_seed():
    betas = [0.5, 1.0, 4.0]
    migs = [[0.1, 0.3, 0.0], [0.4, 0.2, 0.01]]
    fig = plotting.mig_vs_beta(betas, migs, labels=["seed 0", "seed 1"])
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    for line, row in zip(lines, migs, strict=True):
        assert np.allclose(line.get_xdata(), betas) and np.allclose(line.get_ydata(), row)
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="migs"):
        plotting.mig_vs_beta(betas, [0.1, 1.2, 0.0])
    with pytest.raises(ValueError, match="migs"):
        plotting.mig_vs_beta(betas, [0.1, 0.2])
    with pytest.raises(ValueError, match="betas"):
        plotting.mig_vs_beta([0.0, 1.0, 2.0], [0.1, 0.2, 0.3])
    assert "traversal_grid" in plotting.__all__ and "mig_vs_beta" in plotting.__all__


def test_corrupting_any_checked_step_of_the_derivation_is_rejected():
    """The mixed-code derivation is the oracle above: a wrong step in it must not verify."""
    import sympy as sp

    from vaelearn.derive import Derivation, DerivationError

    good = derivations.disentanglement.mixed_code_information()
    checked = [k for k, s in enumerate(good.steps) if k and s.rule not in ("given", "definition")]
    assert len(checked) >= 3
    for k in checked:
        bad = Derivation(good.title)
        for j, s in enumerate(good.steps):
            expr = s.expr if j != k else sp.Eq(s.expr.lhs, s.expr.rhs + sp.Rational(1, 7))
            bad.step(s.text, expr, rule=s.rule, **s.options)
        with pytest.raises(DerivationError, match=f"step {k + 1} "):
            bad.verify()

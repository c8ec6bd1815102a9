"""The weighted-sampling core: exact frequencies, zero weights, N > 2^24, cross-process identity."""

import itertools
import subprocess
import sys

import pytest
import torch

from swiftsampler.samplers import draw_with_replacement, draw_without_replacement


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_with_replacement_frequencies_match_the_weights():
    w = torch.tensor([1.0, 0.0, 3.0, 6.0])
    n = 200_000
    counts = torch.bincount(draw_with_replacement(w, n, gen()), minlength=4).double()
    expected = w.double() / w.sum() * n
    assert counts[1] == 0
    chi2 = (((counts - expected) ** 2) / expected.clamp_min(1))[[0, 2, 3]].sum()
    assert chi2 < 13.8  # chi-square, 2 d.o.f., p = 0.001


def test_without_replacement_inclusion_matches_sequential_draws():
    """Exponential keys = drawing one at a time proportional to the remaining weights."""
    w = [1.0, 2.0, 3.0, 4.0]
    exact = [0.0] * 4
    for a, b in itertools.permutations(range(4), 2):  # P(first a, then b)
        p = w[a] / sum(w) * w[b] / (sum(w) - w[a])
        exact[a] += p
        exact[b] += p
    trials = 40_000
    g = gen(1)
    counts = torch.zeros(4)
    for _ in range(trials):
        counts[draw_without_replacement(torch.tensor(w), 2, g)] += 1
    assert torch.allclose(counts / trials, torch.tensor(exact), atol=0.01)


def test_without_replacement_distinct_and_zero_weights_last():
    w = torch.tensor([0.0, 5.0, 0.0, 1.0, 0.0])
    out = draw_without_replacement(w, 5, gen(2))
    assert sorted(out.tolist()) == [0, 1, 2, 3, 4]
    assert set(out[:2].tolist()) == {1, 3}
    assert draw_without_replacement(w, 2, gen(3)).unique().numel() == 2


def test_more_than_two_to_the_24_categories():
    n = (1 << 24) + 1000
    w = torch.zeros(n, dtype=torch.float64)
    w[-1000:] = 1.0  # all the mass beyond the 2^24 cap of torch.multinomial
    drawn = draw_with_replacement(w, 5000, gen(4))
    assert bool((drawn >= (1 << 24)).all())
    assert drawn.unique().numel() > 900
    distinct = draw_without_replacement(w, 1000, gen(5))
    assert sorted(distinct.tolist()) == list(range(1 << 24, n))


def test_many_draws_are_the_inverse_cdf_of_their_uniforms():
    """Above PACKED_SORT_MIN draws the queries are ordered by an integer sort of their first 31 bits:
    the indices are still searchsorted(cumsum(w), u * sum(w)) of the generator's uniforms, in order."""
    from swiftsampler.samplers._sort import PACKED_SORT_MIN

    w = torch.rand(5000, generator=gen(6), dtype=torch.float64)
    w[::7] = 0.0  # zero-weight indices own empty intervals
    n = PACKED_SORT_MIN + 77
    drawn = draw_with_replacement(w, n, gen(8))
    u = torch.rand(n, generator=gen(8), dtype=torch.float64)
    cdf = w.cumsum(0)
    assert torch.equal(drawn, torch.searchsorted(cdf, u * cdf[-1], right=True))
    assert not bool((w[drawn] == 0).any())


@pytest.mark.parametrize("bad", [torch.tensor([1.0, -1.0]), torch.tensor([1.0, float("nan")]),
                                 torch.zeros(3), torch.tensor([])])
def test_invalid_weights(bad):
    with pytest.raises(ValueError):
        draw_with_replacement(bad, 2, gen())


def test_too_many_distinct():
    with pytest.raises(ValueError, match="cannot draw 4 distinct"):
        draw_without_replacement(torch.ones(3), 4, gen())


CHILD = """
import torch
from swiftsampler.samplers import draw_with_replacement, draw_without_replacement
w = torch.linspace(0, 1, 1000) ** 2
g = torch.Generator().manual_seed(7)
a = draw_with_replacement(w, 50, g)
b = draw_without_replacement(w, 50, g)
print(",".join(map(str, a.tolist() + b.tolist())))
"""


def test_same_seed_same_draws_in_another_process():
    w = torch.linspace(0, 1, 1000) ** 2
    g = gen(7)
    here = draw_with_replacement(w, 50, g).tolist() + draw_without_replacement(w, 50, g).tolist()
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert list(map(int, out.split(","))) == here

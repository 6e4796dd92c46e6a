import numpy as np
import pytest
import torch
from torch import nn

from skimp.masks import Mask, prunable_parameter_names
from skimp.modules import MLP
from skimp.pruning import (
    CRITERIA,
    SCOPES,
    check_criterion,
    check_scope,
    compute_scores,
    next_mask,
    prune,
)


def _mlp(seed=0, sizes=(64, 32)):
    torch.manual_seed(seed)
    net = MLP(20, 5, sizes)
    return net, prunable_parameter_names(net, MLP.unpruned_layers)


def _conv(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                        nn.Linear(16, 30), nn.ReLU(), nn.Linear(30, 5))
    return net, prunable_parameter_names(net)


@torch.no_grad()
def _retrain(net, seed, ties=False):
    """Stand-in for a level of training: fresh weights, optionally full of ties."""
    gen = torch.Generator().manual_seed(seed)
    for p in net.parameters():
        p.copy_(torch.randn(p.shape, generator=gen))
        if ties:
            # About twenty distinct magnitudes, so thresholds fall inside ties.
            p.copy_(torch.round(p * 4) / 4)


def _abs(net, name):
    return dict(net.named_parameters())[name].detach().abs()


def _pearson(a, b):
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def _assert_equal_masks(a, b):
    assert list(a.tensors) == list(b.tensors)
    for n in a.tensors:
        assert a.tensors[n].dtype == torch.bool
        assert torch.equal(a.tensors[n], b.tensors[n]), n


def _mask_prune(mask, module, fraction):
    """Verbatim body of ``Mask.prune``, global magnitude pruning, before it was
    deleted as a repeat of ``next_mask``; kept to pin that they agree."""
    params = dict(module.named_parameters())
    names = list(mask.tensors)
    scores = torch.cat([
        torch.where(mask.tensors[n], params[n].detach().abs(), -1.0).flatten().cpu()
        for n in names
    ])
    n_prune = int(round(fraction * mask.n_alive))
    n_dead = mask.n_total - mask.n_alive
    order = torch.argsort(scores, stable=True)
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[order[: n_dead + n_prune]] = False
    new, start = {}, 0
    for n in names:
        old = mask.tensors[n]
        stop = start + old.numel()
        new[n] = keep[start:stop].view_as(old).to(old.device)
        start = stop
    return Mask(new)


# -- magnitude + global is Mask.prune --------------------------------------------------

@pytest.mark.parametrize("make", [_mlp, _conv])
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.37, 0.5, 0.8])
@pytest.mark.parametrize("ties", [False, True])
def test_magnitude_global_is_exactly_mask_prune_at_every_level(make, fraction, ties):
    net, names = make()
    ours = theirs = Mask.ones_like(net, names)
    for level in range(6):
        _retrain(net, level, ties=ties)
        ours = next_mask(net, ours, fraction)
        theirs = _mask_prune(theirs, net, fraction)
        _assert_equal_masks(ours, theirs)
    assert ours.n_alive < Mask.ones_like(net, names).n_alive


# -- global magnitude pruning, as Mask.prune did ------------------------------------

def test_prune_removes_exact_fraction_of_alive_weights_globally():
    net, _ = _conv()
    names = prunable_parameter_names(net)
    mask = Mask.ones_like(net, names)
    n_total = mask.n_total
    pruned = next_mask(net, mask, 0.2)
    assert pruned.n_alive == n_total - round(0.2 * n_total)
    # Global: every removed |w| is <= every kept |w|, across all layers.
    params = dict(net.named_parameters())
    kept = torch.cat([params[n].abs()[pruned.tensors[n]] for n in names])
    removed = torch.cat([params[n].abs()[~pruned.tensors[n]] for n in names])
    assert removed.max() <= kept.min()
    # The original mask is left untouched.
    assert mask.n_alive == n_total


def test_density_after_levels_follows_geometric_schedule_and_shrinks():
    net, _ = _conv()
    mask = Mask.ones_like(net, prunable_parameter_names(net))
    for level in range(1, 15):
        # Fresh weights each level, as after retraining.
        with torch.no_grad():
            for p in net.parameters():
                p.normal_()
        new = next_mask(net, mask, 0.2)
        assert new <= mask and not mask <= new
        mask = new
        assert abs(mask.density - 0.8 ** level) <= level / mask.n_total


def test_prune_never_revives_dead_weights_even_if_they_grow():
    net, _ = _conv()
    names = prunable_parameter_names(net)
    mask = next_mask(net, Mask.ones_like(net, names), 0.5)
    with torch.no_grad():  # make the dead weights the largest ones
        for n, p in net.named_parameters():
            if n in names:
                p[~mask.tensors[n]] = 1e6
    assert next_mask(net, mask, 0.5) <= mask


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_prune_count_for_several_fractions(fraction):
    net, _ = _conv(1)
    mask = next_mask(net, Mask.ones_like(net, prunable_parameter_names(net)), 0.5)
    new = next_mask(net, mask, fraction)
    assert mask.n_alive - new.n_alive == int(round(fraction * mask.n_alive))
    assert np.isclose(new.density, new.n_alive / new.n_total)


# -- exact counts and which weights go ---------------------------------------------

@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.77])
def test_global_removes_exactly_the_lowest_alive_scores(fraction):
    net, names = _conv(1)
    mask = next_mask(net, Mask.ones_like(net, names), 0.3)  # some weights already dead
    gen = torch.Generator().manual_seed(0)
    scores = {n: torch.randn(t.shape, generator=gen) for n, t in mask.tensors.items()}
    new = prune(mask, scores, fraction)
    assert new.n_alive == mask.n_alive - round(fraction * mask.n_alive)
    removed = torch.cat([scores[n][mask.tensors[n] & ~new.tensors[n]] for n in names])
    kept = torch.cat([scores[n][new.tensors[n]] for n in names])
    assert removed.numel() == round(fraction * mask.n_alive)
    assert removed.max() <= kept.min()
    assert new <= mask


def test_ties_are_broken_by_position():
    mask = Mask({"a": torch.ones(3, dtype=bool), "b": torch.ones(3, dtype=bool)})
    scores = {"a": torch.zeros(3), "b": torch.zeros(3)}
    assert prune(mask, scores, 0.5).tensors["a"].tolist() == [False, False, False]
    new = prune(mask, scores, 0.34, scope="layerwise")
    assert new.tensors["a"].tolist() == new.tensors["b"].tolist() == [False, True, True]


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_layerwise_prunes_each_layer_by_the_fraction_at_every_level(fraction):
    net, names = _mlp(2, sizes=(300, 100))
    full = Mask.ones_like(net, names)
    mask = full
    for level in range(1, 11):
        _retrain(net, level)
        new = next_mask(net, mask, fraction, scope="layerwise")
        for n in names:
            alive, kept = mask.tensors[n], new.tensors[n]
            # Exact count per layer and per level...
            assert int(kept.sum()) == int(alive.sum()) - round(fraction * int(alive.sum()))
            # ...of the layer's own smallest weights...
            w = _abs(net, n)
            if (alive & ~kept).any():
                assert w[alive & ~kept].max() <= w[kept].min()
            # ...so the density follows the schedule up to accumulated rounding,
            # at most half a weight per level, shrunk by later levels.
            bound = 0.5 * sum((1 - fraction) ** j for j in range(level))
            assert abs(int(kept.sum()) - kept.numel() * (1 - fraction) ** level) <= bound
        assert new <= mask and not mask <= new
        mask = new


def test_layerwise_and_global_differ_when_layers_differ_in_scale():
    net, names = _mlp(3, sizes=(64, 64))
    _retrain(net, 0)
    with torch.no_grad():
        dict(net.named_parameters())["hidden.1.weight"].mul_(100)
    full = Mask.ones_like(net, names)  # 1280 and 4096 weights
    glob = next_mask(net, full, 0.2)
    layer = next_mask(net, full, 0.2, scope="layerwise")
    # Globally the small-scale first layer takes almost all the cuts...
    assert glob.tensors["hidden.1.weight"].float().mean() > 0.97
    assert glob.tensors["hidden.0.weight"].float().mean() < 0.3
    # ...layer-wise each layer keeps 80%, to the weight.
    assert int(layer.tensors["hidden.0.weight"].sum()) == 1280 - 256
    assert int(layer.tensors["hidden.1.weight"].sum()) == 4096 - 819
    assert glob.n_alive == full.n_alive - round(0.2 * full.n_alive)


@pytest.mark.parametrize("criterion", ["magnitude", "random", "callable"])
@pytest.mark.parametrize("scope", SCOPES)
def test_masks_only_shrink_and_dead_weights_never_revive(criterion, scope):
    net, names = _conv(4)
    if criterion == "callable":
        # Scores the dead weights highest of all: they must still stay dead.
        def criterion(module):
            return {n: p.detach().abs() + 1e6 * (p.detach() == 0)
                    for n, p in module.named_parameters() if n in names}
    mask = Mask.ones_like(net, names)
    rng = np.random.RandomState(0)
    for level in range(8):
        _retrain(net, level)
        with torch.no_grad():  # dead weights as the largest magnitudes too
            for n, p in net.named_parameters():
                if n in names:
                    p[~mask.tensors[n]] = 0 if callable(criterion) else 1e6
        new = next_mask(net, mask, 0.3, criterion=criterion, scope=scope, random_state=rng)
        assert new <= mask
        if scope == "global":
            assert new.n_alive == mask.n_alive - round(0.3 * mask.n_alive)
        mask = new
    assert mask.n_alive < 0.1 * mask.n_total


def test_zero_fraction_keeps_the_mask_and_input_is_not_modified():
    net, names = _mlp()
    mask = next_mask(net, Mask.ones_like(net, names), 0.5)
    before = {n: t.clone() for n, t in mask.tensors.items()}
    for scope in SCOPES:
        _assert_equal_masks(next_mask(net, mask, 0.0, scope=scope), mask)
        next_mask(net, mask, 0.5, scope=scope)
    for n in names:
        assert torch.equal(mask.tensors[n], before[n])


# -- random criterion -------------------------------------------------------------

def test_random_pruning_is_uncorrelated_with_magnitude():
    torch.manual_seed(0)
    net = nn.Linear(500, 200, bias=False)
    mask = Mask.ones_like(net, ["weight"])
    w = net.weight.detach().abs().flatten().double()
    rand = next_mask(net, mask, 0.5, criterion="random", random_state=0)
    magn = next_mask(net, mask, 0.5)
    pruned_r = (~rand.tensors["weight"]).flatten().double()
    pruned_m = (~magn.tensors["weight"]).flatten().double()
    # Pearson correlation of "pruned" with |w|: about 0 for random, with a
    # standard error of 1/sqrt(100000) ~ 0.003, strongly negative for magnitude.
    assert abs(_pearson(pruned_r, w)) < 0.015
    assert _pearson(pruned_m, w) < -0.8
    assert rand.n_alive == magn.n_alive == 50_000
    # Independent of magnitude, about half of random's kept weights are also
    # kept by magnitude; far from magnitude's own set.
    overlap = float((rand.tensors["weight"] & magn.tensors["weight"]).sum()) / 50_000
    assert abs(overlap - 0.5) < 0.01
    # And it keeps the same spread of magnitudes as the whole layer.
    assert abs(float(w[~pruned_r.bool()].mean()) / float(w.mean()) - 1) < 0.01


@pytest.mark.parametrize("scope", SCOPES)
def test_random_is_reproducible_per_seed_and_differs_across_seeds(scope):
    net, names = _mlp(5)
    full = Mask.ones_like(net, names)
    a = next_mask(net, full, 0.4, criterion="random", scope=scope, random_state=1)
    b = next_mask(net, full, 0.4, criterion="random", scope=scope, random_state=1)
    c = next_mask(net, full, 0.4, criterion="random", scope=scope, random_state=2)
    _assert_equal_masks(a, b)
    differ = sum(int((a.tensors[n] != c.tensors[n]).sum()) for n in names)
    assert differ > 0.3 * full.n_total  # ~ 2 * 0.4 * 0.6 of the weights expected
    # The weights do not matter to random pruning.
    _retrain(net, 99)
    _assert_equal_masks(
        a, next_mask(net, full, 0.4, criterion="random", scope=scope, random_state=1))


def test_random_state_shared_across_levels_is_reproducible_and_fresh_each_level():
    net, names = _mlp(6)

    def run(rng):
        mask, masks = Mask.ones_like(net, names), []
        for _ in range(4):
            mask = next_mask(net, mask, 0.3, criterion="random", random_state=rng)
            masks.append(mask)
        return masks

    for a, b in zip(run(np.random.RandomState(0)), run(np.random.RandomState(0))):
        _assert_equal_masks(a, b)
    rng = np.random.RandomState(0)
    first = compute_scores(net, Mask.ones_like(net, names), "random", random_state=rng)
    second = compute_scores(net, Mask.ones_like(net, names), "random", random_state=rng)
    assert not torch.equal(first[names[0]], second[names[0]])


def test_random_draw_does_not_depend_on_the_mask():
    net, names = _mlp(7)
    full = Mask.ones_like(net, names)
    half = next_mask(net, full, 0.5)
    a = compute_scores(net, full, "random", random_state=3)
    b = compute_scores(net, half, "random", random_state=3)
    for n in names:
        assert torch.equal(a[n], b[n])
        assert a[n].dtype == torch.float64 and 0 <= a[n].min() and a[n].max() < 1


# -- callable criteria --------------------------------------------------------------

def test_callable_criterion_decides_what_goes():
    net, names = _mlp(8)

    def smallest_first_kept(module):
        return {n: -p.detach().abs() for n, p in module.named_parameters() if n in names}

    full = Mask.ones_like(net, names)
    new = next_mask(net, full, 0.6, criterion=smallest_first_kept)
    kept = torch.cat([_abs(net, n)[new.tensors[n]] for n in names])
    removed = torch.cat([_abs(net, n)[~new.tensors[n]] for n in names])
    assert new.n_alive == full.n_alive - round(0.6 * full.n_alive)
    assert kept.max() <= removed.min()


def test_callable_may_return_numpy_and_score_dense_prunable_weights():
    net, names = _mlp(9)

    def numpy_criterion(module):
        # Scores every Linear weight, including the output layer the mask
        # leaves dense; that extra entry is ignored.
        return {n: p.detach().abs().numpy() for n, p in module.named_parameters()
                if n.endswith("weight")}

    full = Mask.ones_like(net, names)
    assert "output.weight" not in names
    _assert_equal_masks(next_mask(net, full, 0.3, criterion=numpy_criterion),
                        next_mask(net, full, 0.3))


def test_nan_scores_of_dead_weights_are_ignored():
    net, names = _mlp(10)
    mask = next_mask(net, Mask.ones_like(net, names), 0.5)

    def nan_where_dead(module):
        return {n: torch.where(mask.tensors[n], _abs(net, n), torch.nan) for n in names}

    _assert_equal_masks(next_mask(net, mask, 0.5, criterion=nan_where_dead),
                        next_mask(net, mask, 0.5))


def _bad(kind):
    """A criterion for the MLP whose return is broken in one way."""
    def criterion(module):
        good = {n: p.detach().abs().clone() for n, p in module.named_parameters()
                if n in ("hidden.0.weight", "hidden.1.weight")}
        if kind == "not a dict":
            return list(good.values())
        if kind == "missing":
            del good["hidden.1.weight"]
        elif kind == "bias":
            good["hidden.0.bias"] = torch.zeros(64)
        elif kind == "typo":
            good["hiden.1.weight"] = good["hidden.1.weight"]
        elif kind == "shape":
            good["hidden.1.weight"] = good["hidden.1.weight"].T
        elif kind == "nan":
            good["hidden.1.weight"][3, 4] = torch.nan
        elif kind == "inf":
            good["hidden.1.weight"][0, 0] = -torch.inf
        elif kind == "list":
            good["hidden.1.weight"] = good["hidden.1.weight"].tolist()
        elif kind == "complex":
            good["hidden.1.weight"] = good["hidden.1.weight"].numpy().astype(complex)
        elif kind == "strings":
            good["hidden.1.weight"] = np.full((32, 64), "x")
        return good
    return criterion


@pytest.mark.parametrize("kind, match", [
    ("not a dict", "criterion criterion returned list; it must return a dict"),
    ("missing", r"no scores for \['hidden.1.weight'\]"),
    ("bias", r"\['hidden.0.bias'\], which are not prunable"),
    ("typo", r"\['hiden.1.weight'\], which are not prunable"),
    ("shape", r"shape \(64, 32\) for 'hidden.1.weight', whose weight has shape \(32, 64\)"),
    ("nan", "NaN or inf scores for alive weights of 'hidden.1.weight'"),
    ("inf", "NaN or inf scores for alive weights of 'hidden.1.weight'"),
    ("list", "gave a list for 'hidden.1.weight'; scores must be a torch.Tensor or numpy"),
    ("complex", "dtype complex128 for 'hidden.1.weight'"),
    ("strings", "dtype <U1 for 'hidden.1.weight'"),
])
def test_bad_criterion_return_raises_naming_the_parameter(kind, match):
    net, names = _mlp()
    with pytest.raises(ValueError, match=match):
        next_mask(net, Mask.ones_like(net, names), 0.2, criterion=_bad(kind))


def test_prune_checks_scores_against_the_mask():
    mask = Mask({"a": torch.ones(2, 2, dtype=bool)})
    with pytest.raises(ValueError, match=r"scores has scores for \['b'\], which the mask"):
        prune(mask, {"a": torch.zeros(2, 2), "b": torch.zeros(3)}, 0.5)
    with pytest.raises(ValueError, match=r"scores has no scores for \['a'\]"):
        prune(mask, {}, 0.5)
    with pytest.raises(ValueError, match="scores must be a dict"):
        prune(mask, [torch.zeros(2, 2)], 0.5)
    with pytest.raises(ValueError, match=r"shape \(4,\) for 'a'"):
        prune(mask, {"a": np.zeros(4)}, 0.5)


def test_mask_naming_a_parameter_the_module_lacks():
    net, _ = _mlp()
    mask = Mask({"hidden.9.weight": torch.ones(3, dtype=bool)})
    with pytest.raises(ValueError, match=r"\['hidden.9.weight'\], which the module does not"):
        next_mask(net, mask, 0.2)


# -- argument checks ----------------------------------------------------------------

def test_check_criterion_and_scope_accept_the_valid_values():
    for c in CRITERIA:
        assert check_criterion(c) == c
    assert check_criterion(len) is len
    for s in SCOPES:
        assert check_scope(s) == s


@pytest.mark.parametrize("criterion", ["Magnitude", "snip", None, 3])
def test_check_criterion_lists_the_valid_values(criterion):
    with pytest.raises(ValueError, match="criterion must be one of 'magnitude', 'random' or a "
                                         "callable"):
        check_criterion(criterion)
    net, names = _mlp()
    with pytest.raises(ValueError, match="criterion must be one of"):
        next_mask(net, Mask.ones_like(net, names), 0.2, criterion=criterion)


@pytest.mark.parametrize("scope", ["local", "Global", None, ("global",)])
def test_check_scope_lists_the_valid_values(scope):
    with pytest.raises(ValueError, match="scope must be one of 'global', 'layerwise'"):
        check_scope(scope)
    mask = Mask({"a": torch.ones(2, dtype=bool)})
    with pytest.raises(ValueError, match="scope must be one of"):
        prune(mask, {"a": torch.zeros(2)}, 0.5, scope=scope)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2, float("nan"), "0.2", True, None])
def test_bad_fraction(fraction):
    net, names = _mlp()
    mask = Mask.ones_like(net, names)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        next_mask(net, mask, fraction)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        prune(mask, compute_scores(net, mask), fraction)


def test_module_mask_and_random_state_are_declared_constraints():
    net, names = _mlp()
    mask = Mask.ones_like(net, names)
    with pytest.raises(ValueError, match="'mask' parameter of next_mask"):
        next_mask(net, mask.tensors, 0.2)
    with pytest.raises(ValueError, match="'module' parameter of compute_scores"):
        compute_scores(None, mask)
    with pytest.raises(ValueError, match="'random_state' parameter of next_mask"):
        next_mask(net, mask, 0.2, criterion="random", random_state="seed")
    with pytest.raises(ValueError, match="'mask' parameter of prune"):
        prune(None, {}, 0.2)

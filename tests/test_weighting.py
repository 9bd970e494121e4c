import numpy as np
import pytest
import torch
import torch.nn.functional as F

from astgenre.weighting import class_weights, sample_weights, weighted_cross_entropy


def test_inverse_frequency():
    w = class_weights([10, 20, 40], "inverse_frequency")
    assert np.allclose(w, np.array([4, 2, 1]) / np.mean([4, 2, 1]))


def test_effective_number_matches_formula_and_tends_to_inverse_frequency():
    counts = [320, 115, 26, 45, 101, 122]
    beta = 0.99
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    assert np.allclose(class_weights(counts, "effective_number", beta), raw / raw.mean())
    near_one = class_weights(counts, "effective_number", 1 - 1e-9)
    assert np.allclose(near_one, class_weights(counts, "inverse_frequency"), rtol=1e-4)


def test_unweighted_variants_and_errors():
    assert class_weights([1, 2], "none") is None
    assert class_weights([1, 2], "balanced_sampler") is None
    with pytest.raises(ValueError, match="unknown weighting"):
        class_weights([1, 2], "squared")
    with pytest.raises(ValueError, match="at least one training track"):
        class_weights([0, 2], "inverse_frequency")


def test_sample_weights_balance_classes():
    labels = [0, 0, 0, 1]
    w = sample_weights(labels, 2)
    assert w[:3].sum() == pytest.approx(w[3:].sum())


def test_weighted_cross_entropy_hard_and_soft_labels():
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 1, 0])
    weights = torch.tensor([0.5, 1.0, 2.0])
    assert torch.allclose(
        weighted_cross_entropy(logits, labels, weights), F.cross_entropy(logits, labels, weight=weights)
    )
    onehot = F.one_hot(labels, 3).float()
    assert torch.allclose(
        weighted_cross_entropy(logits, onehot, weights), F.cross_entropy(logits, labels, weight=weights)
    )
    assert torch.allclose(weighted_cross_entropy(logits, onehot, None), F.cross_entropy(logits, labels))

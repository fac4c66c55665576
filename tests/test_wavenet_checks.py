"""The self-checks of notebook 7f accept the library's answers and reject typical mistakes."""
import math

import torch

from genai_lib.check import ch07f
from genai_lib.models.wavenet import WaveNetConfig, mu_law_encode, receptive_field


def test_mu_law_check_accepts_the_library_and_rejects_mistakes():
    assert ch07f.mu_law_codes(lambda x, mu: mu_law_encode(x, mu + 1))
    # rounding down instead of to the nearest level
    assert not ch07f.mu_law_codes(
        lambda x, mu: ((torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu) + 1) / 2 * mu).floor())
    # linear quantisation, no companding
    assert not ch07f.mu_law_codes(lambda x, mu: ((x + 1) / 2 * mu + 0.5).floor())
    assert not ch07f.mu_law_codes(lambda x, mu: 1 / 0)                 # an error is reported, not raised


def test_receptive_field_check_agrees_with_the_library():
    assert ch07f.receptive_field_size(lambda k, d: (k - 1) * sum(d) + 1)
    cfg = WaveNetConfig(layers_per_stack=3, stacks=2, kernel_size=3)
    dilations = [1] + [1, 2, 4] * 2
    assert (3 - 1) * sum(dilations) + 1 == receptive_field(cfg)
    assert not ch07f.receptive_field_size(lambda k, d: k * sum(d))        # forgets the current sample
    assert not ch07f.receptive_field_size(lambda k, d: (k - 1) * max(d) + 1)  # only the last layer

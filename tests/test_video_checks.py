"""The self-checks of notebook 7g (video) accept right answers and reject typical wrong ones."""
import torch

from genai_lib import check


def test_reflect_position_check():
    assert check.reflect_position(lambda u, L: L - (torch.remainder(u, 2 * L) - L).abs())
    assert not check.reflect_position(lambda u, L: u.clamp(0, L))                 # stops at the wall
    assert not check.reflect_position(lambda u, L: L - (torch.fmod(u, 2 * L) - L).abs())  # negative u
    assert not check.reflect_position(lambda u, L: (torch.remainder(u, 2 * L) - L).abs())  # mirrored


def test_shift_responsibilities_check():
    assert check.shift_responsibilities(lambda lp, e, s: (lp - e / (2 * s ** 2)).softmax(-1))
    assert not check.shift_responsibilities(lambda lp, e, s: (lp - e / s ** 2).softmax(-1))
    assert not check.shift_responsibilities(lambda lp, e, s: (-e / (2 * s ** 2)).softmax(-1))  # no prior
    assert not check.shift_responsibilities(lambda lp, e, s: (lp - e / (2 * s ** 2)).softmax(0))
    assert "not implemented" in check.shift_responsibilities(lambda *a: (_ for _ in ()).throw(NotImplementedError)).message

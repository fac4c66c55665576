import torch

from genai_lib import video
from genai_lib.video import centre_of_mass, moving_mnist

torch.set_num_threads(1)


def fake_digits(n=5, seed=0):
    """MNIST-like digits in [0, 1]: a random blob in the middle of each 28x28 image, blank border."""
    g = torch.Generator().manual_seed(seed)
    d = torch.zeros(n, 28, 28)
    d[:, 6:22, 8:20] = torch.rand(n, 16, 12, generator=g)
    return d


DIGITS = fake_digits()


def test_same_seed_same_clips_other_seed_other_clips():
    state = torch.get_rng_state()
    a, info_a = moving_mnist(DIGITS, 4, seed=3)
    b, info_b = moving_mnist(DIGITS, 4, seed=3)
    c, _ = moving_mnist(DIGITS, 4, seed=4)
    assert torch.equal(torch.get_rng_state(), state)                     # the global generator is untouched
    assert torch.equal(a, b) and all(torch.equal(info_a[k], info_b[k]) for k in info_a)
    assert not torch.equal(a, c)
    assert torch.equal(moving_mnist(DIGITS[:, None], 4, seed=3)[0], a)   # (N, 1, 28, 28) works the same


def test_shapes_and_info():
    clips, info = moving_mnist(DIGITS, 3, frames=7, size=40, n_digits=2)
    assert clips.shape == (3, 7, 1, 40, 40) and clips.dtype == torch.float32
    assert 0 <= float(clips.min()) and float(clips.max()) <= 1
    assert info["positions"].shape == (3, 2, 7, 2) and info["positions"].dtype == torch.long
    assert info["velocity"].shape == (3, 2, 7, 2)
    assert info["digit_index"].shape == (3, 2)
    assert int(info["digit_index"].min()) >= 0 and int(info["digit_index"].max()) < len(DIGITS)


def test_digits_stay_inside_and_keep_their_mass():
    clips, info = moving_mnist(DIGITS, 6, frames=40, size=36, speed=(3.0, 6.0), seed=1)
    p = info["positions"]
    assert int(p.min()) == 0 and int(p.max()) == 36 - 28                  # reaches both walls, never beyond
    mass = clips.sum((-3, -2, -1))                                       # (clips, frames)
    digit_mass = DIGITS[info["digit_index"][:, 0]].sum((-2, -1))         # (clips,)
    assert torch.allclose(mass, digit_mass[:, None].expand_as(mass), rtol=1e-5)


def test_positions_are_the_centre_of_mass_shift():
    clips, info = moving_mnist(DIGITS, 4, frames=25, seed=2)
    com = centre_of_mass(clips[:, :, 0])                                 # (clips, frames, 2)
    p = info["positions"][:, 0].float()                                  # (clips, frames, 2)
    assert torch.allclose(com - com[:, :1], p - p[:, :1], atol=1e-4)
    # and the drawn frame is the digit pasted at that position
    r, c = info["positions"][0, 0, 5].tolist()
    assert torch.equal(clips[0, 5, 0, r:r + 28, c:c + 28], DIGITS[info["digit_index"][0, 0]])


def test_constant_velocity_with_elastic_bounces():
    _, info = moving_mnist(DIGITS, 8, frames=60, size=40, speed=(2.0, 3.0), seed=5)
    v, p = info["velocity"][:, 0], info["positions"][:, 0].float()      # (clips, frames, 2)
    assert torch.allclose(v.abs(), v[:, :1].abs().expand_as(v))           # the speed never changes
    flips = (v[:, 1:] * v[:, :-1] < 0)                                   # (clips, frames - 1, 2)
    assert flips.any(1).any(-1).all()                                    # every clip bounces at least once
    # between bounces the drawn position moves by v per frame, up to rounding to whole pixels
    steady = ~flips
    step = p[:, 1:] - p[:, :-1]
    assert ((step - v[:, :-1]).abs()[steady] <= 1 + 1e-6).all()
    # a flip happens at a wall: the position before or after it is within one step of 0 or L
    L = 40 - 28
    near_wall = (torch.minimum(p[:, 1:], L - p[:, 1:]) <= v.abs()[:, 1:] + 0.5)
    assert near_wall[flips].all()


def test_digits_combine_by_max():
    clips, info = moving_mnist(DIGITS, 3, frames=4, size=32, n_digits=2, seed=7)
    expected = torch.zeros(3, 4, 32, 32)
    for i in range(3):
        for k in range(2):
            for t in range(4):
                r, c = info["positions"][i, k, t].tolist()
                patch = expected[i, t, r:r + 28, c:c + 28]
                expected[i, t, r:r + 28, c:c + 28] = torch.maximum(patch, DIGITS[info["digit_index"][i, k]])
    assert torch.equal(clips[:, :, 0], expected)


def test_a_frame_as_large_as_the_digit_holds_it_still():
    clips, info = moving_mnist(DIGITS, 2, frames=3, size=28)
    assert (info["positions"] == 0).all()
    assert torch.equal(clips[:, 0], clips[:, 2])


def test_centre_of_mass_pinned():
    img = torch.zeros(2, 5, 7)
    img[0, 3, 5] = 1.0
    img[1, 0, 0], img[1, 4, 6] = 1.0, 3.0                                # weighted: (0 + 3 * 4) / 4, (0 + 3 * 6) / 4
    assert centre_of_mass(img).tolist() == [[3.0, 5.0], [3.0, 4.5]]


def naive_shift(x, dr, dc):
    """x (N, H, W) moved dr rows down and dc columns right, zeros entering: the definition, by loops."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    for i in range(H):
        for j in range(W):
            if 0 <= i - dr < H and 0 <= j - dc < W:
                out[:, i, j] = x[:, i - dr, j - dc]
    return out


def test_advect_one_hot_kernels_shift_and_spread_kernels_mix():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 9, 11, generator=g)
    R = 2
    for dr in range(-R, R + 1):
        for dc in range(-R, R + 1):
            k = torch.zeros(3, 2 * R + 1, 2 * R + 1)
            k[:, R + dr, R + dc] = 1.0
            assert torch.allclose(video.advect(x, k), naive_shift(x, dr, dc), atol=1e-6), (dr, dc)
    w = torch.rand(3, 5, 5, generator=g)
    mix = sum(w[:, R + dr, R + dc, None, None] * naive_shift(x, dr, dc)
              for dr in range(-R, R + 1) for dc in range(-R, R + 1))
    assert torch.allclose(video.advect(x, w), mix, atol=1e-5)
    # a pixel moved one row down and two columns left
    one = torch.zeros(1, 5, 5)
    one[0, 2, 2] = 1.0
    k = torch.zeros(1, 5, 5)
    k[0, R + 1, R - 2] = 1.0
    assert video.advect(one, k)[0].nonzero().tolist() == [[3, 0]]


def test_shift_errors_match_the_definition_and_find_the_true_shift():
    g = torch.Generator().manual_seed(1)
    prev, nxt = torch.rand(2, 10, 12, generator=g), torch.rand(2, 10, 12, generator=g)
    R = 3
    err = video.shift_errors(prev, nxt, R)
    assert err.shape == (2, 7, 7)
    for dr in range(-R, R + 1):
        for dc in range(-R, R + 1):
            want = (nxt - naive_shift(prev, dr, dc)).square().sum((-2, -1))
            assert torch.allclose(err[:, R + dr, R + dc], want, atol=1e-4), (dr, dc)
    # a digit moved by (2, -1) inside the frame: that shift, and only it, has zero error
    clips, info = moving_mnist(DIGITS, 3, frames=2, size=36, speed=(1.0, 2.0), seed=3)
    x = clips[:, :, 0]
    e = video.shift_errors(x[:, 0], x[:, 1], 4).flatten(1)                # (3, 81)
    d = info["positions"][:, 0, 1] - info["positions"][:, 0, 0]          # (3, 2) the true moves
    assert torch.equal(e.argmin(1), (d[:, 0] + 4) * 9 + (d[:, 1] + 4))
    assert float(e.min(1).values.max()) < 1e-3


def test_crop_around_centres_and_stays_inside():
    frames = torch.arange(40.0)[:, None].expand(40, 40).repeat(3, 1, 1)   # pixel value = its row
    centres = torch.tensor([[20.0, 20.0], [0.0, 39.0], [13.5, 13.5]])
    crops = video.crop_around(frames, centres, size=28)
    assert crops.shape == (3, 28, 28)
    assert crops[0, 0, 0] == 6 and crops[1, 0, 0] == 0 and crops[2, 0, 0] == 0   # moved inside the frame
    # a symmetric digit (centre of mass at 13.5, 13.5) drawn anywhere is cropped back exactly
    digit = torch.zeros(1, 28, 28)
    digit[0, 6:22, 7:21] = 0.8
    clips, _ = moving_mnist(digit, 4, frames=3, size=48, seed=4)
    x = clips[:, 2, 0]
    assert torch.equal(video.crop_around(x, centre_of_mass(x), size=28), digit.expand(4, 28, 28))

"""Self-checks for the exercises: ``check.<name>(your_function)`` says right or wrong.

Each check runs the student's function on a few cases and compares with a reference,
returning a :class:`CheckResult` that shows ✅ or ❌ with a hint. It never raises, so a
student can run a whole notebook; the solution notebooks assert ``.passed`` in a hidden
cell, so CI fails if a solution (or a check) is wrong.
"""
from .core import CheckResult, run_cases
from .ch01 import gaussian_log_density, bayes_posterior, gaussian_sample, gaussian_parameter_count
from .ch02 import gaussian_kl, reparameterize, batch_elbo, iwae_from_log_weights
from .ch03 import causal_mask, top_p_keep, perplexity, clip_by_norm
from .ch04 import discriminator_loss, optimal_discriminator, gradient_penalty, slerp
from .ch05 import affine_flow_log_prob, q_sample, alpha_bar, ddim_step
from .ch06 import detector_scores, balancing_weights
from .ch07 import noise_level_step, repaint_jump, ks_statistic, auroc, cost_per_1000, typicality_score
from .ch07a import unigram_nll, constrained_probs
from .ch07b import midi_frequency, add_k_probs
from .ch08a import wilson_interval, kappa_from_table
from .ch08c import watermark_z, green_share_needed
from .ch08b import canary_exposure, dp_auroc_bound
from .ch07f import mu_law_codes, receptive_field_size
from .ch07g import reflect_position, shift_responsibilities
from .reference import or_reference

"""One model family per module: ``gmm`` (Chapter 1); later chapters add vae, gan, gpt, diffusion."""

// Sampling family: argmax and seeded temperature / min-p / top-k / top-p sampling, one block per row. The
// random number is the CPU's (native/cpu/sample_rng.h, a pure function of (seed, step)), and the selection
// rule is the CPU's too: tokens below min_p get no weight; candidates in order of decreasing probability
// (lower index first on ties), the top k, then the smallest prefix whose mass reaches top_p, then the first
// candidate whose cumulative mass passes u · kept mass. Instead of sorting the vocabulary, the kernel finds
// each cut with a radix search over the logits' order-preserving bit patterns (four 8-bit passes of count or
// mass histograms) and settles ties in index order with one block-wide scan, so CPU and CUDA draw the same
// token for the same seed, up to the order in which double-precision sums are added.
#pragma once
#include "cuda/common.cuh"

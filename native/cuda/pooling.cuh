// Pooling family: sentence vectors from packed token states (mean, first token, last token per sequence)
// and L2 normalization of rows.
#pragma once
#include "cuda/common.cuh"

// Rows family: gathering rows of a matrix by index (the last token of each sequence before the LM head,
// reordering batches). Indices are checked on the device (device_faults.h).
#pragma once
#include "cuda/common.cuh"

#ifndef SAEPIPE_KERNELS_H
#define SAEPIPE_KERNELS_H

/// Element-wise kernels for the forward pass, written as plain loops the C compiler
/// vectorizes (one clone per AVX-512 / AVX2 / SSE2 machine, picked at load time).

/// x ← x · ½(1 + erf(x/√2)), erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7), as PyTorch's CPU GELU.
void saepipe_gelu_erf(float *x, long count);

/// Rows of [gate | up] (2·width floats each): gate ← silu(gate) · up.
void saepipe_swiglu(float *x, long rows, long width);

/// log Σ exp(x_i), max subtracted first.
float saepipe_logsumexp(const float *x, long count);

/// x ← softmax(x) in place.
void saepipe_softmax(float *x, long count);

/// y ← exp(x) for the tests.
void saepipe_exp(const float *x, float *y, long count);

#endif

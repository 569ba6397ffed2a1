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

/// KL(softmax(p) ‖ softmax(q)) in nats for two rows of logits (clamped at 0 against rounding).
double saepipe_kl_logits(const float *p, const float *q, long count);

/// x ← softmax(x) in place.
void saepipe_softmax(float *x, long count);

/// y ← exp(x) for the tests.
void saepipe_exp(const float *x, float *y, long count);

#endif

#include <stdint.h>

// Sparse SAE kernels. A batch's active features are kept twice: by row (CSR: entries
// row_start[r] ..< row_start[r+1] with feature cols[k] and value vals[k]) and by feature
// (CSC: feature_start[i] ..< feature_start[i+1] listing entry indices k and their rows).

/// out[r, :] += Σ_k vals[k] · w[cols[k], :] for rows first ..< last, walking the entries by feature
/// (feature_start, entries, rows as SparseActivations keeps them) so each row of w is read once; each
/// row's terms are still added in increasing column order.
void saepipe_sparse_features_decode(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                    const float *vals, long features, long first, long last, const float *w, long d,
                                    float *out);

/// dots[k] = a[row(k), :] · w[cols[k], :] for the entries in rows first ..< last, walking them by
/// feature (each row of w read once).
void saepipe_sparse_features_row_dots(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                      long features, long first, long last, const float *a, const float *w, long d,
                                      float *dots);

/// out[i, :] = Σ_{k in feature i} weights[k] · m[rows[k], :] for features first ..< last
/// (features with no entries get zeros); sums[i] = Σ weights[k] when sums is not NULL.
void saepipe_sparse_features_accumulate(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                        const float *weights, long first, long last, const float *m, long d,
                                        float *out, float *sums);

/// out[c, r] = in[r, c] for an r × c block of rows first ..< last of `in` ([rows, cols]).
void saepipe_transpose(const float *in, long rows, long cols, long first, long last, float *out);

/// counts[r] = number of nonzeros in row r of m [rows, cols], for rows first ..< last.
void saepipe_count_nonzeros(const float *m, long cols, long first, long last, int64_t *counts);

/// Writes the nonzeros of rows first ..< last of m [rows, cols] at row_start[r]: column and value.
void saepipe_collect_nonzeros(const float *m, long cols, long first, long last, const int64_t *row_start,
                              int32_t *out_cols, float *out_vals);

/// For rows first ..< last of m [rows, cols]: above[r] = how many values exceed cutoff, equal[r] = how many equal it.
void saepipe_count_above(const float *m, long cols, long first, long last, float cutoff, int64_t *above, int64_t *equal);

/// Writes, at row_start[r], the column and value of each entry of rows first ..< last of m [rows, cols]
/// above cutoff or equal to it at a flat index <= last_tie (ties kept in index order; -1 keeps none).
void saepipe_collect_above(const float *m, long cols, long first, long last, float cutoff, long last_tie,
                           const int64_t *row_start, int32_t *out_cols, float *out_vals);

/// The same with each value's index in out_index; -1 (and nothing usable) when more than capacity qualify.
long saepipe_collect_at_least_indexed(const float *x, long first, long last, float threshold, long capacity,
                                      float *out, int64_t *out_index);

/// Copies the values of x[first ..< last] that are positive and >= threshold to out, in order;
/// returns how many (BatchTopK's candidates above a sampled cutoff).
long saepipe_collect_at_least(const float *x, long first, long last, float threshold, float *out);

/// One Adam step (torch.optim.Adam with bias correction folded into step_size and root2) on
/// elements first ..< last, with the gradient scaled first (gradient clipping; 1 leaves it exact):
/// g ← scale·g, m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − step_size·m / (√v / root2 + ε).
void saepipe_adam(float *p, float *m, float *v, const float *g, long first, long last, float beta1, float beta2,
                  float epsilon, float step_size, float root2, float scale);

/// The same step for p, m, v stored [rows, cols] with the gradient stored transposed, gt [cols, rows],
/// on rows first ..< last of p: the same bits as transposing gt and calling saepipe_adam. `block`
/// holds 16 · cols floats of scratch.
void saepipe_adam_transposed_gradient(float *p, float *m, float *v, const float *gt, long rows, long cols, long first,
                                      long last, float beta1, float beta2, float epsilon, float step_size, float root2,
                                      float scale, float *block);

/// Scales rows first ..< last of w [rows, d] to unit L2 norm (rows of norm 0 stay 0).
void saepipe_normalize_rows(float *w, long d, long first, long last);

/// Minimum-cost assignment of each row to a distinct column (rows <= cols) of a row-major cost
/// matrix; column_of_row[r] gets row r's column. Returns 0, or -1 (rows > cols, or no memory).
int saepipe_linear_assignment(const float *cost, long rows, long cols, int32_t *column_of_row);

#include "saepipe_kernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#define CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))

// e^x: Cephes' range reduction x = n·ln2 + r and degree-6 polynomial in r (within 2 ulp),
// 2^n built in the exponent bits. Inputs are clamped to [−87.3, 88] so 2^n stays normal.
static inline float exp_approx(float x) {
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.0f ? 88.0f : x;
    float fx = x * 1.44269504088896341f + 0.5f;
    int32_t n = (int32_t)fx;
    n -= (float)n > fx;  // floor for negatives
    float nf = (float)n;
    float r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    int32_t bits = (n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

static inline float erf_approx(float x) {
    float a = x < 0 ? -x : x;
    float t = 1.0f / (a * 0.3275911f + 1.0f);
    float r = 1.061405429f;
    r = r * t - 1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t - 0.284496736f;
    r = r * t + 0.254829592f;
    float e = 1.0f - r * t * exp_approx(-a * a);
    return x < 0 ? -e : e;
}

CLONES void saepipe_exp(const float *x, float *y, long count) {
    for (long i = 0; i < count; i++) y[i] = exp_approx(x[i]);
}

CLONES void saepipe_gelu_erf(float *x, long count) {
    for (long i = 0; i < count; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
    }
}

CLONES void saepipe_swiglu(float *x, long rows, long width) {
    for (long row = 0; row < rows; row++) {
        float *gate = x + row * 2 * width;
        const float *up = gate + width;
        for (long j = 0; j < width; j++) {
            float g = gate[j];
            gate[j] = g / (1.0f + exp_approx(-g)) * up[j];
        }
    }
}

#define LANES 16

static inline float max_of(const float *x, long count) {
    float lanes[LANES];
    for (int k = 0; k < LANES; k++) lanes[k] = -INFINITY;
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int k = 0; k < LANES; k++) lanes[k] = x[i + k] > lanes[k] ? x[i + k] : lanes[k];
    float m = -INFINITY;
    for (int k = 0; k < LANES; k++) m = lanes[k] > m ? lanes[k] : m;
    for (; i < count; i++) m = x[i] > m ? x[i] : m;
    return m;
}

CLONES float saepipe_logsumexp(const float *x, long count) {
    float m = max_of(x, count);
    float lanes[LANES] = {0};
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int k = 0; k < LANES; k++) lanes[k] += exp_approx(x[i + k] - m);
    double total = 0;
    for (int k = 0; k < LANES; k++) total += lanes[k];
    for (; i < count; i++) total += exp_approx(x[i] - m);
    return (float)log(total) + m;
}

CLONES double saepipe_kl_logits(const float *p, const float *q, long count) {
    float lse_p = saepipe_logsumexp(p, count), lse_q = saepipe_logsumexp(q, count);
    float lanes[LANES] = {0};
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int k = 0; k < LANES; k++) lanes[k] += exp_approx(p[i + k] - lse_p) * (p[i + k] - q[i + k]);
    double total = 0;
    for (int k = 0; k < LANES; k++) total += lanes[k];
    for (; i < count; i++) total += exp_approx(p[i] - lse_p) * (p[i] - q[i]);
    // KL(P‖Q) = Σ p_i (log p_i − log q_i) = Σ p_i (a_i − b_i) + lse_b − lse_a.
    double kl = total + (double)lse_q - (double)lse_p;
    return kl > 0 ? kl : 0;
}

CLONES void saepipe_softmax(float *x, long count) {
    float m = max_of(x, count);
    float total = 0;
    for (long i = 0; i < count; i++) {
        x[i] = exp_approx(x[i] - m);
        total += x[i];
    }
    float inverse = 1.0f / total;
    for (long i = 0; i < count; i++) x[i] *= inverse;
}

CLONES void saepipe_sparse_rows_times_matrix(const int64_t *row_start, const int32_t *cols, const float *vals,
                                             long first, long last, const float *w, long d, float *out) {
    for (long r = first; r < last; r++) {
        float *target = out + r * d;
        for (int64_t k = row_start[r]; k < row_start[r + 1]; k++) {
            const float *source = w + (long)cols[k] * d;
            float v = vals[k];
            for (long j = 0; j < d; j++) target[j] += v * source[j];
        }
    }
}

CLONES void saepipe_sparse_row_dots(const int64_t *row_start, const int32_t *cols, long first, long last,
                                    const float *a, const float *w, long d, float *dots) {
    for (long r = first; r < last; r++) {
        const float *left = a + r * d;
        for (int64_t k = row_start[r]; k < row_start[r + 1]; k++) {
            const float *right = w + (long)cols[k] * d;
            float lanes[LANES] = {0};
            long j = 0;
            for (; j + LANES <= d; j += LANES)
                for (int l = 0; l < LANES; l++) lanes[l] += left[j + l] * right[j + l];
            float total = 0;
            for (int l = 0; l < LANES; l++) total += lanes[l];
            for (; j < d; j++) total += left[j] * right[j];
            dots[k] = total;
        }
    }
}

CLONES void saepipe_sparse_features_accumulate(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                               const float *weights, long first, long last, const float *m, long d,
                                               float *out, float *sums) {
    for (long i = first; i < last; i++) {
        float *target = out + i * d;
        for (long j = 0; j < d; j++) target[j] = 0;
        float total = 0;
        for (int64_t position = feature_start[i]; position < feature_start[i + 1]; position++) {
            int64_t k = entries[position];
            const float *source = m + (long)rows[position] * d;
            float v = weights[k];
            total += v;
            for (long j = 0; j < d; j++) target[j] += v * source[j];
        }
        if (sums) sums[i] = total;
    }
}

enum { SAEPIPE_TILE = 16 };

// tile[b][a] = in[(a0 + a) · ld + b0 + b] for a < na, b < nb: one block of `in` ([·, ld]) flipped.
static inline void saepipe_flip_tile(const float *in, long ld, long a0, long b0, long na, long nb,
                                     float tile[SAEPIPE_TILE][SAEPIPE_TILE]) {
    for (long a = 0; a < na; a++)
        for (long b = 0; b < nb; b++) tile[b][a] = in[(a0 + a) * ld + b0 + b];
}

CLONES void saepipe_transpose(const float *in, long rows, long cols, long first, long last, float *out) {
    // 16 × 16 tiles through a local buffer, so every write to `out` fills a whole cache line: with
    // rows = 4608 the output stride maps a column of single-float writes onto two L1 sets.
    float tile[SAEPIPE_TILE][SAEPIPE_TILE];
    for (long r0 = first; r0 < last; r0 += SAEPIPE_TILE) {
        long height = last - r0 < SAEPIPE_TILE ? last - r0 : SAEPIPE_TILE;
        for (long c0 = 0; c0 < cols; c0 += SAEPIPE_TILE) {
            long width = cols - c0 < SAEPIPE_TILE ? cols - c0 : SAEPIPE_TILE;
            saepipe_flip_tile(in, cols, r0, c0, height, width, tile);
            for (long c = 0; c < width; c++) memcpy(out + (c0 + c) * rows + r0, tile[c], (size_t)height * sizeof(float));
        }
    }
}

CLONES long saepipe_collect_at_least(const float *x, long first, long last, float threshold, float *out) {
    long n = 0;
    for (long i = first; i < last; i++) {
        float v = x[i];
        if (v >= threshold && v > 0.0f) out[n++] = v;  // about 1% qualify: the branch is nearly always predicted
    }
    return n;
}

// Unfused, in torch's order: the same bits on every clone, in both layouts.
#define SAEPIPE_ADAM_ELEMENT(P, M, V, G)                                      \
    do {                                                                      \
        float gi = (G) * scale;                                               \
        float mi = beta1 * (M) + (1.0f - beta1) * gi;                         \
        float vi = beta2 * (V) + (1.0f - beta2) * gi * gi;                    \
        (M) = mi;                                                             \
        (V) = vi;                                                             \
        (P) -= step_size * mi / (sqrtf(vi) / root2 + epsilon);                \
    } while (0)

CLONES void saepipe_adam(float *p, float *m, float *v, const float *g, long first, long last, float beta1, float beta2,
                         float epsilon, float step_size, float root2, float scale) {
#pragma clang fp contract(off)
    for (long i = first; i < last; i++) SAEPIPE_ADAM_ELEMENT(p[i], m[i], v[i], g[i]);
}

CLONES void saepipe_adam_transposed_gradient(float *p, float *m, float *v, const float *gt, long rows, long cols,
                                             long first, long last, float beta1, float beta2, float epsilon,
                                             float step_size, float root2, float scale) {
    // 16 × 16 blocks of gt flipped through a local tile, then the step on 16 rows' 16 columns: the
    // gradient is read once and never written back in p's layout (half the memory traffic of a
    // separate transpose followed by the step).
#pragma clang fp contract(off)
    float tile[SAEPIPE_TILE][SAEPIPE_TILE];
    for (long r0 = first; r0 < last; r0 += SAEPIPE_TILE) {
        long height = last - r0 < SAEPIPE_TILE ? last - r0 : SAEPIPE_TILE;
        for (long c0 = 0; c0 < cols; c0 += SAEPIPE_TILE) {
            long width = cols - c0 < SAEPIPE_TILE ? cols - c0 : SAEPIPE_TILE;
            saepipe_flip_tile(gt, rows, c0, r0, width, height, tile);  // tile[r][c] = gt[(c0 + c) · rows + r0 + r]
            for (long r = 0; r < height; r++) {
                long base = (r0 + r) * cols + c0;
                for (long c = 0; c < width; c++) SAEPIPE_ADAM_ELEMENT(p[base + c], m[base + c], v[base + c], tile[r][c]);
            }
        }
    }
}

CLONES void saepipe_normalize_rows(float *w, long d, long first, long last) {
    // Sixteen partial sums in a fixed order, unfused: the same bits whichever clone runs.
#pragma clang fp contract(off)
    for (long r = first; r < last; r++) {
        float *row = w + r * d;
        float lanes[LANES] = {0};
        long j = 0;
        for (; j + LANES <= d; j += LANES)
            for (int l = 0; l < LANES; l++) lanes[l] += row[j + l] * row[j + l];
        float total = 0;
        for (int l = 0; l < LANES; l++) total += lanes[l];
        for (; j < d; j++) total += row[j] * row[j];
        if (total > 0) {
            float norm = sqrtf(total);
            for (j = 0; j < d; j++) row[j] /= norm;
        }
    }
}

CLONES void saepipe_count_nonzeros(const float *m, long cols, long first, long last, int64_t *counts) {
    for (long r = first; r < last; r++) {
        const float *row = m + r * cols;
        int64_t n = 0;
        for (long c = 0; c < cols; c++) n += row[c] != 0.0f;
        counts[r] = n;
    }
}

CLONES void saepipe_collect_nonzeros(const float *m, long cols, long first, long last, const int64_t *row_start,
                                     int32_t *out_cols, float *out_vals) {
    for (long r = first; r < last; r++) {
        const float *row = m + r * cols;
        int64_t k = row_start[r];
        for (long c = 0; c < cols; c++) {
            float v = row[c];
            if (v != 0.0f) {
                out_cols[k] = (int32_t)c;
                out_vals[k] = v;
                k++;
            }
        }
    }
}

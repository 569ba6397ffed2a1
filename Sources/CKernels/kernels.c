#include "saepipe_kernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

// The entries of feature i that lie in rows first ..< last: rows ascend within a feature.
static inline void saepipe_feature_rows_in(const int64_t *feature_start, const int32_t *rows, long i, long first, long last,
                                           int64_t *begin, int64_t *end) {
    int64_t position = feature_start[i], stop = feature_start[i + 1];
    while (position < stop && rows[position] < first) position++;
    *begin = position;
    while (position < stop && rows[position] < last) position++;
    *end = position;
}

CLONES void saepipe_sparse_features_decode(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                           const float *vals, long features, long first, long last, const float *w,
                                           long d, float *out) {
    for (long i = 0; i < features; i++) {
        int64_t begin, end;
        saepipe_feature_rows_in(feature_start, rows, i, first, last, &begin, &end);
        const float *source = w + i * d;
        for (int64_t position = begin; position < end; position++) {
            float *target = out + (long)rows[position] * d;
            float v = vals[entries[position]];
            for (long j = 0; j < d; j++) target[j] += v * source[j];
        }
    }
}

CLONES void saepipe_sparse_features_row_dots(const int64_t *feature_start, const int64_t *entries, const int32_t *rows,
                                             long features, long first, long last, const float *a, const float *w,
                                             long d, float *dots) {
    for (long i = 0; i < features; i++) {
        int64_t begin, end;
        saepipe_feature_rows_in(feature_start, rows, i, first, last, &begin, &end);
        const float *right = w + i * d;
        for (int64_t position = begin; position < end; position++) {
            const float *left = a + (long)rows[position] * d;
            float lanes[LANES] = {0};
            long j = 0;
            for (; j + LANES <= d; j += LANES)
                for (int l = 0; l < LANES; l++) lanes[l] += left[j + l] * right[j + l];
            float total = 0;
            for (int l = 0; l < LANES; l++) total += lanes[l];
            for (; j < d; j++) total += left[j] * right[j];
            dots[entries[position]] = total;
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

CLONES void saepipe_count_above(const float *m, long cols, long first, long last, float cutoff, int64_t *above,
                                int64_t *equal) {
    for (long r = first; r < last; r++) {
        const float *row = m + r * cols;
        int64_t n = 0, e = 0;
        for (long c = 0; c < cols; c++) {
            n += row[c] > cutoff;
            e += row[c] == cutoff;
        }
        above[r] = n;
        equal[r] = e;
    }
}

CLONES void saepipe_collect_above(const float *m, long cols, long first, long last, float cutoff, long last_tie,
                                  const int64_t *row_start, int32_t *out_cols, float *out_vals) {
    for (long r = first; r < last; r++) {
        const float *row = m + r * cols;
        int64_t k = row_start[r];
        for (long c = 0; c < cols; c++) {
            float v = row[c];
            if (v > cutoff || (v == cutoff && r * cols + c <= last_tie)) {
                out_cols[k] = (int32_t)c;
                out_vals[k] = v;
                k++;
            }
        }
    }
}

CLONES long saepipe_collect_at_least_indexed(const float *x, long first, long last, float threshold, long capacity,
                                            float *out, int64_t *out_index) {
    long n = 0;
    for (long i = first; i < last; i++) {
        float v = x[i];
        if (v >= threshold && v > 0.0f) {
            if (n == capacity) return -1;
            out[n] = v;
            out_index[n] = i;
            n++;
        }
    }
    return n;
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

#if defined(__x86_64__)
// out[b · ld_out + a] = in[a · ld_in + b] for a 16 × 16 block, flipped in registers.
__attribute__((target("avx512f"))) static void saepipe_flip_block_avx512(const float *in, long ld_in, float *out, long ld_out) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(in + i * ld_in);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(out + i * ld_out, r[i]);
}
#endif

// block[r · cols + c] = gt[c · rows + r0 + r] for r < height: rows r0 ..< r0 + height of gt's transpose.
static void saepipe_flip_rows(const float *gt, long rows, long cols, long r0, long height, float *block, int registers) {
    float tile[SAEPIPE_TILE][SAEPIPE_TILE];
    for (long c0 = 0; c0 < cols; c0 += SAEPIPE_TILE) {
        long width = cols - c0 < SAEPIPE_TILE ? cols - c0 : SAEPIPE_TILE;
#if defined(__x86_64__)
        if (registers && width == SAEPIPE_TILE && height == SAEPIPE_TILE) {
            saepipe_flip_block_avx512(gt + c0 * rows + r0, rows, block + c0, cols);
            continue;
        }
#else
        (void)registers;
#endif
        saepipe_flip_tile(gt, rows, c0, r0, width, height, tile);  // tile[r][c] = gt[(c0 + c) · rows + r0 + r]
        for (long r = 0; r < height; r++) memcpy(block + r * cols + c0, tile[r], (size_t)width * sizeof(float));
    }
}

void saepipe_adam_transposed_gradient(float *p, float *m, float *v, const float *gt, long rows, long cols, long first,
                                      long last, float beta1, float beta2, float epsilon, float step_size, float root2,
                                      float scale, float *block) {
    // Sixteen rows at a time: their gradient flipped into a buffer that stays in cache, then the
    // ordinary step over those rows, which are contiguous in p, m and v. Stepping tile by tile
    // instead reads p, m and v as 48 short streams at once, which the prefetchers do not follow
    // (measured 2.5 times slower than the same-size step with the gradient in p's layout).
#if defined(__x86_64__)
    int registers = __builtin_cpu_supports("avx512f");
#else
    int registers = 0;
#endif
    for (long r0 = first; r0 < last; r0 += SAEPIPE_TILE) {
        long height = last - r0 < SAEPIPE_TILE ? last - r0 : SAEPIPE_TILE;
        saepipe_flip_rows(gt, rows, cols, r0, height, block, registers);
        saepipe_adam(p + r0 * cols, m + r0 * cols, v + r0 * cols, block, 0, height * cols, beta1, beta2, epsilon,
                     step_size, root2, scale);
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

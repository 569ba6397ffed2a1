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

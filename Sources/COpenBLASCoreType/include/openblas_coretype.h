#ifndef SAEPIPE_OPENBLAS_CORETYPE_H
#define SAEPIPE_OPENBLAS_CORETYPE_H

/// The OpenBLAS kernel family this CPU should use ("SkylakeX", "Haswell"), or NULL
/// when the CPU has neither AVX-512 nor AVX2 (OpenBLAS's own choice is then kept).
const char *saepipe_preferred_openblas_core(void);

/// Non-zero when this process was re-executed to pick up OPENBLAS_CORETYPE.
int saepipe_openblas_reexecuted(void);

/// Non-zero when OpenBLAS's `current` core is a generic fallback that `preferred` beats.
int saepipe_openblas_core_needs_override(const char *current, const char *preferred);

#endif

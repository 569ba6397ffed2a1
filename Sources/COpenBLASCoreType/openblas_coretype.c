// OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, so setting it from
// Swift's main is too late. Under KVM, Debian's OpenBLAS 0.3.21 misdetects AVX-512
// CPUs and falls back to Prescott kernels (~4.5x slower sgemm). This constructor runs
// after OpenBLAS has initialised (it is a dependency of this object), checks the core
// it chose, and re-execs the same binary with the variable set when it is wrong.
#define _GNU_SOURCE
#include "openblas_coretype.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int reexecuted = 0;
static int core_is_at_least(const char *current, const char *preferred);

const char *saepipe_preferred_openblas_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        return "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return "Haswell";
    }
    return NULL;
}

int saepipe_openblas_reexecuted(void) { return reexecuted; }

int saepipe_openblas_core_needs_override(const char *current, const char *preferred) {
    return !core_is_at_least(current, preferred);
}

static int core_is_at_least(const char *current, const char *preferred) {
    if (current == NULL) return 0;
    if (strcasecmp(current, preferred) == 0) return 1;
    // OpenBLAS reports newer families (Cooperlake, SapphireRapids, Zen) that are at
    // least as good as what we would force; only the generic fallbacks are replaced.
    static const char *const fallbacks[] = {
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge",
        "Katmai", "Coppermine", "Northwood", "Banias", "Atom", "Athlon", "Opteron",
        "Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
        "Steamroller", "Excavator", "Nano", "Unknown", NULL};
    if (strcasecmp(preferred, "SkylakeX") == 0 && strcasecmp(current, "Haswell") == 0) return 0;
    for (int i = 0; fallbacks[i] != NULL; i++) {
        if (strcasecmp(current, fallbacks[i]) == 0) return 0;
    }
    return 1;
}

__attribute__((constructor)) static void saepipe_fix_openblas_core(int argc, char **argv) {
    if (getenv("SAEPIPE_OPENBLAS_REEXEC") != NULL) {
        reexecuted = 1;
        return;  // never loop, even if the variable did not take
    }
    const char *chosen = getenv("OPENBLAS_CORETYPE");
    if (chosen != NULL && chosen[0] != '\0') return;  // the user's choice wins
    const char *preferred = saepipe_preferred_openblas_core();
    if (preferred == NULL) return;
    if (core_is_at_least(openblas_get_corename(), preferred)) return;
    if (argv == NULL || argc < 1) return;
    setenv("OPENBLAS_CORETYPE", preferred, 1);
    setenv("SAEPIPE_OPENBLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    // exec failed (no /proc?): carry on with the slow kernels rather than fail.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("SAEPIPE_OPENBLAS_REEXEC");
}

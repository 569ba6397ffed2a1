#include "saepipe_kernels.h"
#include <float.h>
#include <stdlib.h>

/* Minimum-cost assignment of every row to a distinct column (rows <= cols) by the Hungarian
   method with potentials and shortest augmenting paths (Kuhn-Munkres as Jonker and Volgenant
   organise it): O(rows^2 * cols) at worst. cost is row-major [rows, cols]; column_of_row gets
   each row's column. Returns 0, or -1 if memory ran out. */
int saepipe_linear_assignment(const float *cost, long rows, long cols, int32_t *column_of_row) {
    if (rows > cols) return -1;
    double *u = calloc((size_t)rows + 1, sizeof(double));
    double *v = calloc((size_t)cols + 1, sizeof(double));
    double *minv = malloc(((size_t)cols + 1) * sizeof(double));
    long *row_of = calloc((size_t)cols + 1, sizeof(long)); /* 1-based row matched to column j; 0: none */
    long *way = calloc((size_t)cols + 1, sizeof(long));
    unsigned char *used = malloc((size_t)cols + 1);
    if (!u || !v || !minv || !row_of || !way || !used) {
        free(u); free(v); free(minv); free(row_of); free(way); free(used);
        return -1;
    }
    for (long i = 1; i <= rows; i++) {
        row_of[0] = i;
        long j0 = 0;
        for (long j = 0; j <= cols; j++) { minv[j] = DBL_MAX; used[j] = 0; }
        do {
            used[j0] = 1;
            long i0 = row_of[j0], j1 = 0;
            double delta = DBL_MAX;
            const float *row = cost + (i0 - 1) * cols - 1; /* row[j] for 1-based j */
            double ui0 = u[i0];
            for (long j = 1; j <= cols; j++) {
                if (used[j]) continue;
                double reduced = (double)row[j] - ui0 - v[j];
                if (reduced < minv[j]) { minv[j] = reduced; way[j] = j0; }
                if (minv[j] < delta) { delta = minv[j]; j1 = j; }
            }
            for (long j = 0; j <= cols; j++) {
                if (used[j]) { u[row_of[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (row_of[j0] != 0);
        do {
            long j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    for (long j = 1; j <= cols; j++)
        if (row_of[j] != 0) column_of_row[row_of[j] - 1] = (int32_t)(j - 1);
    free(u); free(v); free(minv); free(row_of); free(way); free(used);
    return 0;
}

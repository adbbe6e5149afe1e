/*
 * dist.c - the one module that talks to MPI (built with `make MPI=1`, -DDC_USE_MPI): start-up,
 * the broadcast of rank 0's weights, the allreduce of gradient buckets, the reduction of metrics.
 * Without MPI every function is the trivial one-process version (rank 0 of a world of 1), so the
 * training loop has a single code path.
 *
 * Data parallelism (dc_train): every rank builds the same model, rank 0's tensors are broadcast,
 * each global batch is split into contiguous per-rank slices, each rank runs forward and backward
 * on its slice, gradients are scaled by (slice size / global batch) and summed over the ranks in
 * buckets of about DIST_BUCKET floats, so every rank ends with the gradient of the global batch's
 * mean loss and takes the same optimizer step. Errors are returned, not fatal (MPI_ERRORS_RETURN),
 * and a rank that dies makes mpirun stop the others.
 */
#include "core/internal.h"

#include <string.h>

#ifdef DC_USE_MPI
#include <mpi.h>
#endif

#define DIST_BUCKET (1 << 20) /* floats per allreduce: 4 MiB */

static int g_rank, g_size = 1;
static double g_comm_s; /* seconds spent in MPI calls by this rank */
#ifdef DC_USE_MPI
static int g_inited; /* we called MPI_Init, so we call MPI_Finalize */
#endif

dc_status dc_dist_init(int *argc, char ***argv)
{
#ifdef DC_USE_MPI
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag && MPI_Init(argc, argv) != MPI_SUCCESS)
        return dc_err(DC_ERR_IO, "MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_inited = !flag;
#else
    (void)argc;
    (void)argv;
#endif
    return DC_OK;
}

void dc_dist_finalize(void)
{
#ifdef DC_USE_MPI
    if (g_inited)
        MPI_Finalize();
    g_inited = 0;
#endif
}

int dc_dist_rank(void) { return g_rank; }
static int g_sync_bn;
void dc_dist_set_sync_bn(int on) { g_sync_bn = on != 0; }
int dc_dist_sync_bn(void) { return g_sync_bn; }
double dc_dist_comm_seconds(void) { return g_comm_s; }
int dc_dist_size(void) { return g_size; }

#ifdef DC_USE_MPI
static dc_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return dc_err(DC_ERR_IO, "rank %d of %d: %s failed: %.*s (another rank may have stopped)",
                  g_rank, g_size, what, len, msg);
}
#endif

dc_status dc_dist_broadcast_model(dc_model *m)
{
#ifdef DC_USE_MPI
    for (int i = 0; g_size > 1 && i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        int64_t left = t->numel * (t->dtype == DC_I64 ? 8 : 4);
        for (unsigned char *p = t->data; left > 0;) {
            int n = left > (INT64_C(1) << 30) ? 1 << 30 : (int)left;
            int rc = MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS)
                return mpi_fail(rc, "broadcast of the weights");
            p += n;
            left -= n;
        }
    }
#else
    (void)m;
#endif
    return DC_OK;
}

dc_status dc_dist_allreduce_grads(dc_model *m, float scale)
{
    int64_t n = 0;
    float *g = dc_model_grad_block(m, &n);
    for (int64_t k = 0; scale != 1.0f && k < n; k++) /* this rank's share of the mean */
        g[k] *= scale;
#ifdef DC_USE_MPI
    /* the whole gradient block, contiguous, in buckets of DIST_BUCKET floats */
    const double t0 = MPI_Wtime();
    for (int64_t off = 0; g_size > 1 && off < n; off += DIST_BUCKET) {
        int k = (int)(n - off < DIST_BUCKET ? n - off : DIST_BUCKET);
        int rc = MPI_Allreduce(MPI_IN_PLACE, g + off, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "gradient allreduce");
    }
    g_comm_s += MPI_Wtime() - t0;
#endif
    return DC_OK;
}

dc_status dc_dist_sum(double *v, int n)
{
#ifdef DC_USE_MPI
    if (g_size > 1) {
        const double t0 = MPI_Wtime();
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        g_comm_s += MPI_Wtime() - t0;
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "metric reduction");
    }
#else
    (void)v;
    (void)n;
#endif
    return DC_OK;
}

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
#include "ops/hooks.h"

#include <string.h>

#ifdef DC_USE_MPI
#include <mpi.h>
#endif

#define DIST_BUCKET (1 << 20) /* floats per allreduce: 4 MiB */

static int g_rank, g_size = 1;
static void install_bn_sync(void);
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
    install_bn_sync();
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
/* Batch norm reaches the collective through the hook it offers (ops/ must not call train/). */
static void install_bn_sync(void)
{
    dc_batch_norm_set_sync(g_sync_bn && g_size > 1 ? dc_dist_sum : NULL);
}
void dc_dist_set_sync_bn(int on)
{
    g_sync_bn = on != 0;
    install_bn_sync();
}
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
    if (g_size > 1)
        dc_model_weights_changed(m); /* a frozen model's packs are of the old weights */
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

/*
 * Overlap: with dc_dist_overlap_begin the gradient allreduce runs during the backward pass. The
 * gradient block is cut into buckets of DIST_OVERLAP floats; before the tape runs, each bucket
 * gets the smallest tape index of a node that reads a parameter lying in it (backward visits the
 * tape from the end, so after that node the bucket's gradients are final: usually the last
 * layers' buckets first). After that node the bucket is scaled and its MPI_Iallreduce started;
 * every later node calls MPI_Testall so that Open MPI progresses the transfers. dc_dist_overlap_end
 * starts what is left (parameters unused this step) and waits for all.
 */
#define DIST_OVERLAP (1 << 18) /* floats per overlapped bucket: 1 MiB */
#define DIST_MAX_BUCKETS 4096

typedef struct overlap {
    float *g;
    int64_t n, nb;
    float scale;
    int64_t ready[DIST_MAX_BUCKETS]; /* tape index after which bucket b is final, or -1 */
    int started[DIST_MAX_BUCKETS];
#ifdef DC_USE_MPI
    MPI_Request req[DIST_MAX_BUCKETS];
#endif
} overlap;

static overlap g_ov;

static dc_status start_bucket(overlap *o, int64_t b)
{
    const int64_t off = b * DIST_OVERLAP, k = o->n - off < DIST_OVERLAP ? o->n - off : DIST_OVERLAP;
    for (int64_t i = 0; o->scale != 1.0f && i < k; i++)
        o->g[off + i] *= o->scale;
    o->started[b] = 1;
#ifdef DC_USE_MPI
    const double t0 = MPI_Wtime();
    int rc = MPI_Iallreduce(MPI_IN_PLACE, o->g + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &o->req[b]);
    g_comm_s += MPI_Wtime() - t0;
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "gradient allreduce");
#endif
    return DC_OK;
}

/* The tape: which bucket each parameter input falls in, and the last node that reads it. */
static void plan_buckets(overlap *o, const dc_ctx *ctx)
{
    for (int64_t b = 0; b < o->nb; b++)
        o->ready[b] = -1;
    for (int64_t i = 0; i < dc_ctx_tape_len(ctx); i++) {
        const dc_node *nd = dc_ctx_tape_node(ctx, i);
        for (int k = 0; nd && k < nd->n_in; k++) {
            const dc_tensor *t = nd->ins[k];
            if (!t || !(t->flags & DC_TF_PARAM) || !t->grad || t->grad < o->g ||
                t->grad >= o->g + o->n)
                continue;
            const int64_t first = (t->grad - o->g) / DIST_OVERLAP,
                          last = (t->grad - o->g + t->numel - 1) / DIST_OVERLAP;
            for (int64_t b = first; b <= last && b < o->nb; b++)
                if (o->ready[b] < 0 || i < o->ready[b])
                    o->ready[b] = i;
        }
    }
}

static dc_status overlap_hook(dc_ctx *ctx, int64_t node, void *user)
{
    overlap *o = user;
    if (node < 0) {
        plan_buckets(o, ctx);
        return DC_OK;
    }
    for (int64_t b = 0; b < o->nb; b++)
        if (!o->started[b] && o->ready[b] == node) {
            dc_status st = start_bucket(o, b);
            if (st != DC_OK)
                return st;
        }
#ifdef DC_USE_MPI
    int done;
    MPI_Testall((int)o->nb, o->req, &done, MPI_STATUSES_IGNORE);
#endif
    return DC_OK;
}

dc_status dc_dist_overlap_begin(dc_ctx *ctx, dc_model *m, float scale)
{
    overlap *o = &g_ov;
    o->g = dc_model_grad_block(m, &o->n);
    o->nb = (o->n + DIST_OVERLAP - 1) / DIST_OVERLAP;
    o->scale = scale;
    if (g_size == 1 || o->nb > DIST_MAX_BUCKETS) { /* no MPI, or too big: after the backward */
        o->nb = 0;
        return DC_OK;
    }
    for (int64_t b = 0; b < o->nb; b++) {
        o->started[b] = 0;
#ifdef DC_USE_MPI
        o->req[b] = MPI_REQUEST_NULL;
#endif
    }
    dc_ctx_set_backward_hook(ctx, overlap_hook, o);
    return DC_OK;
}

dc_status dc_dist_overlap_end(dc_ctx *ctx, dc_model *m)
{
    overlap *o = &g_ov;
    dc_ctx_set_backward_hook(ctx, NULL, NULL);
    if (o->nb == 0)
        return dc_dist_allreduce_grads(m, o->scale);
    dc_status st = DC_OK;
    for (int64_t b = 0; b < o->nb && st == DC_OK; b++)
        if (!o->started[b])
            st = start_bucket(o, b);
#ifdef DC_USE_MPI
    const double t0 = MPI_Wtime();
    int rc = MPI_Waitall((int)o->nb, o->req, MPI_STATUSES_IGNORE);
    g_comm_s += MPI_Wtime() - t0;
    if (st == DC_OK && rc != MPI_SUCCESS)
        st = mpi_fail(rc, "gradient allreduce");
#endif
    o->nb = 0;
    return st;
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

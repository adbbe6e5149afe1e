/*
 * attn_flash_body.h - the micro-kernels of attn_flash.c for one instruction set. attn_flash.c
 * includes this file once per set after defining (it #undefs them at its end):
 *   FL_SUFFIX            name suffix (avx512, avx2, scalar)
 *   FL_TARGET            the function attribute selecting the set (or nothing)
 *   FL_V, FL_W           the vector type and its lanes
 *   FL_QV, FL_KC         query vectors and keys (or output columns) of a register tile:
 *                        FL_KC x FL_QV accumulators; a query block is FL_BQ = FL_W·FL_QV
 *   FL_LOAD(p), FL_STORE(p, x), FL_BCAST(p), FL_ZERO, FL_SET1(x), FL_FMA(a, b, c) = a·b + c,
 *   FL_MUL, FL_ADD, FL_SUB, FL_MAX, FL_EXP(x), FL_NOINF(x) (−inf lanes → 0)
 *
 * Layouts (all floats; BQ = FL_BQ, KC = FL_KC):
 *   qt [D][BQ]            the block's queries times scale, transposed (zero past the block)
 *   kp [Tkp/KC][D][KC]    the head's keys: KC keys side by side per d (zero past Tk)
 *   vp [Dvp/KC][Tkp][KC]  the head's values: KC columns side by side per key (zero past Dv)
 *   st [BK][BQ]           one key block's scores, then its weights e^(s − m)
 *   ot [Dvp][BQ]          the output accumulator, transposed
 * Queries sit in the vector lanes throughout, so the row max, the exponentials, the row sums and
 * the rescaling by α are lane-wise: no horizontal reduction anywhere.
 */

#define FL_CAT2(a, b) a##_##b
#define FL_CAT(a, b) FL_CAT2(a, b)
#define FL_FN(name) FL_CAT(name, FL_SUFFIX)
#define FL_BQ (FL_W * FL_QV)

/* st[j][0..BQ) = Σ_d kp[j][d]·qt[d][0..BQ) for the nk keys of kp (nk a multiple of KC). */
FL_TARGET static void FL_FN(fl_qk)(const float *qt, const float *kp, int64_t D, int64_t nk,
                                   float *st)
{
    for (int64_t j0 = 0; j0 < nk; j0 += FL_KC) {
        FL_V acc[FL_KC][FL_QV];
        FL_UNROLL for (int k = 0; k < FL_KC; k++)
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                acc[k][v] = FL_ZERO;
        const float *kb = kp + j0 * D;
        for (int64_t d = 0; d < D; d++) {
            FL_V q[FL_QV];
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                q[v] = FL_LOAD(qt + d * FL_BQ + v * FL_W);
            FL_UNROLL for (int k = 0; k < FL_KC; k++) {
                const FL_V b = FL_BCAST(kb + d * FL_KC + k);
                FL_UNROLL for (int v = 0; v < FL_QV; v++)
                    acc[k][v] = FL_FMA(b, q[v], acc[k][v]);
            }
        }
        FL_UNROLL for (int k = 0; k < FL_KC; k++)
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                FL_STORE(st + (j0 + k) * FL_BQ + v * FL_W, acc[k][v]);
    }
}

/* The online-softmax step for nk keys of st: m' = max(m, max_j s_j), α = e^(m − m'),
 * st ← e^(s − m'), l ← α·l + Σ_j st_j, m ← m'. A lane with m' = −inf (nothing visible yet)
 * uses 0 in place of m', so its weights and α are e^(−inf) = 0. α goes to alpha[BQ]. */
FL_TARGET static void FL_FN(fl_softmax)(float *st, int64_t nk, float *m, float *l, float *alpha)
{
    FL_UNROLL for (int v = 0; v < FL_QV; v++) {
        const FL_V m0 = FL_LOAD(m + v * FL_W);
        FL_V mx = m0, sum = FL_ZERO;
        for (int64_t j = 0; j < nk; j++)
            mx = FL_MAX(FL_LOAD(st + j * FL_BQ + v * FL_W), mx);
        const FL_V mu = FL_NOINF(mx), al = FL_EXP(FL_SUB(m0, mu));
        for (int64_t j = 0; j < nk; j++) {
            float *p = st + j * FL_BQ + v * FL_W;
            const FL_V e = FL_EXP(FL_SUB(FL_LOAD(p), mu));
            FL_STORE(p, e);
            sum = FL_ADD(sum, e);
        }
        FL_STORE(alpha + v * FL_W, al);
        FL_STORE(l + v * FL_W, FL_ADD(FL_MUL(FL_LOAD(l + v * FL_W), al), sum));
        FL_STORE(m + v * FL_W, mx);
    }
}

/* ot[c][0..BQ) ← α·ot[c] + Σ_j vp[j][c]·st[j][0..BQ) for the Dvp columns (nk keys; vp points
 * at the block's first key, chunks of KC columns vstride floats apart). */
FL_TARGET static void FL_FN(fl_pv)(const float *st, int64_t nk, const float *vp, int64_t vstride,
                                   int64_t Dvp, const float *alpha, float *ot)
{
    FL_V al[FL_QV];
    FL_UNROLL for (int v = 0; v < FL_QV; v++)
        al[v] = FL_LOAD(alpha + v * FL_W);
    for (int64_t c0 = 0; c0 < Dvp; c0 += FL_KC) {
        FL_V acc[FL_KC][FL_QV];
        FL_UNROLL for (int k = 0; k < FL_KC; k++)
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                acc[k][v] = FL_MUL(FL_LOAD(ot + (c0 + k) * FL_BQ + v * FL_W), al[v]);
        const float *vb = vp + (c0 / FL_KC) * vstride;
        for (int64_t j = 0; j < nk; j++) {
            FL_V p[FL_QV];
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                p[v] = FL_LOAD(st + j * FL_BQ + v * FL_W);
            FL_UNROLL for (int k = 0; k < FL_KC; k++) {
                const FL_V b = FL_BCAST(vb + j * FL_KC + k);
                FL_UNROLL for (int v = 0; v < FL_QV; v++)
                    acc[k][v] = FL_FMA(b, p[v], acc[k][v]);
            }
        }
        FL_UNROLL for (int k = 0; k < FL_KC; k++)
            FL_UNROLL for (int v = 0; v < FL_QV; v++)
                FL_STORE(ot + (c0 + k) * FL_BQ + v * FL_W, acc[k][v]);
    }
}

/* One query block [i0, i0 + BQ) of (n, h) against the packed head in w. */
FL_TARGET static void FL_FN(fl_block)(const dc_k_attn *a, const fl_work *w, int64_t n, int64_t h,
                                      int64_t i0)
{
    const int64_t bq = a->Tq - i0 < FL_BQ ? a->Tq - i0 : FL_BQ;
    const int64_t jend = fl_key_end(a, i0, bq), masked = fl_has_masks(a);
    fl_load_queries(a, n, h, i0, bq, FL_BQ, w);
    for (int64_t j0 = 0; j0 < jend; j0 += FL_BK) {
        const int64_t bk = jend - j0 < FL_BK ? jend - j0 : FL_BK;
        const int64_t nk = (bk + FL_KC - 1) / FL_KC * FL_KC;
        FL_FN(fl_qk)(w->qt, w->kp + j0 * a->D, a->D, nk, w->st);
        if (masked || nk > bk)
            fl_masks(a, n, h, i0, bq, FL_BQ, j0, bk, nk, w->st);
        FL_FN(fl_softmax)(w->st, nk, w->m, w->l, w->alpha);
        FL_FN(fl_pv)(w->st, nk, w->vp + j0 * FL_KC, w->tkp * FL_KC, w->dvp, w->alpha, w->ot);
    }
    fl_store_out(a, n, h, i0, bq, FL_BQ, w);
}

/* kp and vp of head (n, h), zero past Tk and Dv (whole chunks of KC keys and columns with
 * constant trip counts, so the copies vectorise). */
FL_TARGET static void FL_FN(fl_pack)(const dc_k_attn *a, int64_t n, int64_t h, const fl_work *w)
{
    const float *k = a->k + n * a->k_sn + h * a->k_sh, *v = a->v + n * a->v_sn + h * a->v_sh;
    const int64_t D = a->D, Dv = a->Dv, full = Dv / FL_KC * FL_KC;
    for (int64_t j0 = 0; j0 < w->tkp; j0 += FL_KC) {
        float *kb = w->kp + j0 * D;
        if (j0 + FL_KC <= a->Tk) {
            for (int64_t d = 0; d < D; d++)
                FL_UNROLL for (int jj = 0; jj < FL_KC; jj++)
                    kb[d * FL_KC + jj] = k[(j0 + jj) * a->k_st + d];
        } else {
            for (int64_t d = 0; d < D; d++)
                for (int jj = 0; jj < FL_KC; jj++)
                    kb[d * FL_KC + jj] = j0 + jj < a->Tk ? k[(j0 + jj) * a->k_st + d] : 0.0f;
        }
        for (int64_t j = j0; j < j0 + FL_KC; j++) {
            const float *vr = v + j * a->v_st;
            float *vb = w->vp + j * FL_KC;
            for (int64_t c0 = 0; c0 < w->dvp; c0 += FL_KC) {
                float *dst = vb + c0 * w->tkp;
                if (j < a->Tk && c0 < full) {
                    FL_UNROLL for (int c = 0; c < FL_KC; c++)
                        dst[c] = vr[c0 + c];
                } else {
                    for (int64_t c = 0; c < FL_KC; c++)
                        dst[c] = j < a->Tk && c0 + c < Dv ? vr[c0 + c] : 0.0f;
                }
            }
        }
    }
}

/* Tasks [t0, t1) (n, h, query block of nqb per head): a head is packed when the range enters
 * it. */
FL_TARGET static void FL_FN(fl_run)(const dc_k_attn *a, const fl_work *w, int64_t t0, int64_t t1,
                                    int64_t nqb)
{
    int64_t packed = -1;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t nh = t / nqb, n = nh / a->H, h = nh % a->H;
        if (nh != packed)
            FL_FN(fl_pack)(a, n, h, w);
        packed = nh;
        FL_FN(fl_block)(a, w, n, h, (t % nqb) * FL_BQ);
    }
}

/* y = e^x with this set's exponential. */
FL_TARGET static void FL_FN(fl_exp_array)(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + FL_W <= n; i += FL_W)
        FL_STORE(y + i, FL_EXP(FL_LOAD(x + i)));
    for (; i < n; i++) {
        float xi[FL_W], yi[FL_W];
        for (int l = 0; l < FL_W; l++)
            xi[l] = x[i];
        FL_STORE(yi, FL_EXP(FL_LOAD(xi)));
        y[i] = yi[0];
    }
}

#undef FL_BQ
#undef FL_FN
#undef FL_CAT
#undef FL_CAT2

/* the parameters of this instantiation, so the next one can define its own */
#undef FL_SUFFIX
#undef FL_TARGET
#undef FL_V
#undef FL_W
#undef FL_QV
#undef FL_KC
#undef FL_LOAD
#undef FL_STORE
#undef FL_BCAST
#undef FL_ZERO
#undef FL_FMA
#undef FL_MUL
#undef FL_ADD
#undef FL_SUB
#undef FL_MAX
#undef FL_EXP
#undef FL_NOINF

/*
 * data_spec.c - image and tensor datasets named by a --data form (data_spec.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "data_spec.h"
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* npy:X.npy,Y.npy */
static dc_dataset *load_npy_pair(const char *spec)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", spec);
    char *comma = strchr(buf, ',');
    if (!comma)
        return dc_err_null(DC_ERR_ARG, "--data npy:X.npy,Y.npy needs two files separated by a "
                           "comma");
    *comma = '\0';
    dc_tensor *x = dc_npy_load(buf);
    dc_tensor *y = x ? dc_npy_load(comma + 1) : NULL;
    if (!x || !y) {
        dc_tensor_free(x);
        return NULL;
    }
    const dc_tensor *t[2] = {x, y};
    for (int k = 0; k < 2; k++) /* training data must be finite: say so here, not at step 1 */
        for (int64_t i = 0; t[k]->dtype == DC_F32 && i < t[k]->numel; i++)
            if (!isfinite(dc_f32(t[k])[i])) {
                dc_err(DC_ERR_NUMERIC, "%.900s: element %lld is not a finite number",
                       k ? comma + 1 : buf, (long long)i);
                dc_tensor_free(x);
                dc_tensor_free(y);
                return NULL;
            }
    return dc_dataset_tensors(x, y);
}

/* "DIR,MEAN,STD": the normalisation given after the folder; 1 when both parse (dir cut there). */
static int given_norm(char *dir, float *mean, float *std)
{
    char *c2 = strrchr(dir, ','), *c1 = NULL, *e1, *e2;
    if (!c2)
        return 0;
    *c2 = '\0';
    c1 = strrchr(dir, ',');
    *c2 = ',';
    if (!c1)
        return 0;
    *mean = strtof(c1 + 1, &e1);
    *std = strtof(c2 + 1, &e2);
    if (e1 != c2 || e1 == c1 + 1 || *e2 || e2 == c2 + 1 || !(*std > 0))
        return 0;
    *c1 = '\0';
    return 1;
}

/* idx:DIR[,MEAN,STD]: any folder of MNIST-layout IDX files, normalised by MEAN,STD or else by the
 * statistics of its training split (the same numbers for train, eval and predict). */
static dc_dataset *load_idx_dir(const char *spec, int train)
{
    char *dir = strdup(spec);
    dc_images im, tr;
    float mean = 0, std = 1;
    if (!dir)
        return dc_err_null(DC_ERR_NOMEM, "out of memory");
    int given = given_norm(dir, &mean, &std);
    dc_status st = dc_idx_dir_load(dir, train, &im);
    if (st == DC_OK && !given && train)
        st = dc_images_stats(&im, &mean, &std);
    if (st == DC_OK && !given && !train) {
        st = dc_idx_dir_load(dir, 1, &tr);
        if (st == DC_OK)
            st = dc_images_stats(&tr, &mean, &std);
        dc_images_free(&tr);
        if (st != DC_OK)
            dc_err_prefix("the normalisation comes from the training split (or give it: "
                          "idx:DIR,MEAN,STD): ");
    }
    free(dir);
    if (st != DC_OK) {
        dc_images_free(&im);
        return NULL;
    }
    return dc_dataset_images(&im, mean, std);
}

dc_dataset *dc_dataset_open(const char *spec, int train)
{
    if (!strncmp(spec, "idx:", 4))
        return load_idx_dir(spec + 4, train);
    if (!strncmp(spec, "fashion-mnist", 13) && (spec[13] == '\0' || spec[13] == ':')) {
        dc_images im;
        if (dc_fashion_mnist_load(spec[13] ? spec + 14 : NULL, train, &im) != DC_OK)
            return NULL;
        return dc_dataset_images(&im, DC_FMNIST_MEAN, DC_FMNIST_STD);
    }
    if (!strncmp(spec, "digits", 6) && (spec[6] == '\0' || spec[6] == ':')) {
        dc_tensor *x, *y;
        if (dc_digits_load(spec[6] ? spec + 7 : NULL, &x, &y) != DC_OK)
            return NULL;
        return dc_dataset_tensors(x, y);
    }
    if (!strncmp(spec, "npy:", 4))
        return load_npy_pair(spec + 4);
    return dc_err_null(DC_ERR_ARG, "unknown --data '%s' (fashion-mnist[:DIR], idx:DIR, "
                       "digits[:FILE], npy:X.npy,Y.npy)", spec);
}


static int is_fashion(const char *spec)
{
    return !strncmp(spec, "fashion-mnist", 13);
}

dc_dataset *dc_dataset_open_test(const char *spec)
{
    return is_fashion(spec) ? dc_dataset_open(spec, 0) : NULL;
}

int64_t dc_dataset_default_val(const char *spec, int64_t n)
{
    return is_fashion(spec) || !strncmp(spec, "idx:", 4) ? n / 12 : 0;
}

const char *(*dc_dataset_class_names(const char *spec))(int)
{
    return is_fashion(spec) ? dc_fashion_mnist_class : NULL;
}

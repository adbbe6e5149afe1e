/*
 * data_spec.h - the --data forms of image and tensor data (data_spec.c), shared by deepc train,
 * eval and predict. Internal: the CLI and the tests use it.
 */
#ifndef DC_DATA_SPEC_H
#define DC_DATA_SPEC_H

#include "deepc.h"

/* Fashion-MNIST normalisation: mean and std of the training pixels / 255. */
#define DC_FMNIST_MEAN 0.2860f
#define DC_FMNIST_STD 0.3530f

/*
 * dc_dataset_open - the dataset of a --data form: fashion-mnist[:DIR] (its training or test
 * split, normalised by DC_FMNIST_MEAN/STD), idx:DIR[,MEAN,STD] (MNIST-layout IDX files,
 * normalised by MEAN,STD or the training split's statistics), digits[:FILE] (scikit-learn's
 * 8x8 digits), npy:X.npy,Y.npy (every float finite). train picks the split where there is one.
 * Returns the dataset (dc_dataset_free), or NULL with the reason in dc_last_error().
 */
dc_dataset *dc_dataset_open(const char *spec, int train);
/* The test split that goes with a training spec (fashion-mnist[:DIR]: its t10k files), or NULL
 * when the data has none (or it cannot be read: dc_last_error() then says why). */
dc_dataset *dc_dataset_open_test(const char *spec);
/* The validation examples held out of n training examples by default: 1/12 for fashion-mnist and
 * idx: folders (Fashion-MNIST: 5000 of 60000), else 0. */
int64_t dc_dataset_default_val(const char *spec, int64_t n);
/* The class names of the data (Fashion-MNIST's), or NULL. */
const char *(*dc_dataset_class_names(const char *spec))(int);

#endif

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

#endif

/*
 * widen.h - shared by optim.c and sched.c (not public): hyper-parameters held as float widened
 * back to the double a PyTorch user wrote.
 */
#ifndef DC_OPTIM_WIDEN_H
#define DC_OPTIM_WIDEN_H

/* The double that the decimal literal behind f denotes (0.999f -> 0.999): the shortest "%.Ng"
 * (N = 6..9) that reads back as f; f's exact value if none does. */
double dc_optim_widen(float f);

#endif

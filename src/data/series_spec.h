/*
 * series_spec.h - the time-series --data forms of the CLI (`weather`, `csv:FILE[,key=value]...`)
 * turned into forecasting windows (dc_series). Internal: the CLI and the tests use it.
 */
#ifndef DC_DATA_SERIES_SPEC_H
#define DC_DATA_SERIES_SPEC_H

#include "deepc.h"

#include <stddef.h>

/*
 * dc_series_open - read the table named by spec and cut its windows.
 *
 * spec  "weather" (Seattle's daily weather: $DEEPC_DATA/seattle-weather.csv, else Debian's
 *       python3-vega-datasets copy; target temp_max) or
 *       "csv:FILE[,target=COL][,window=W][,horizon=H][,inputs=a+b][,val=F][,test=F]"
 *       (defaults: the first numeric column, 7, 1, every numeric column, 0.2, 0.1)
 * path  receives the file that was read (size bytes)
 *
 * The split is chronological and the normalisation is fitted on training rows
 * (dc_series_windows). Returns the series (dc_series_free), or NULL with the reason in
 * dc_last_error() (a bad key or value names the spec; no test windows is an error).
 */
dc_series *dc_series_open(const char *spec, char *path, size_t size);

#endif

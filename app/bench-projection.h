/* bench-projection.h — `ivl bench --backend cuda` under the CUDA emulation: what each phase
 * would take on an H100 SXM, from the bytes and FLOPs the emulator counts per launch
 * (cuda-emu/emu-profile.cc), priced by a roofline. */
#ifndef IVL_BENCH_PROJECTION_H
#define IVL_BENCH_PROJECTION_H

#include <glib.h>
#include <stdio.h>

typedef enum {
  IVL_PHASE_VISION,  /* per tile */
  IVL_PHASE_TTFT,    /* the language forward over a prompt holding the tiles, per prompt */
  IVL_PHASE_PREFILL, /* per prompt token */
  IVL_PHASE_DECODE,  /* per decoded token */
  IVL_N_PHASES
} ivl_bench_phase;

typedef struct ivl_bench_projection ivl_bench_projection;

/* NULL where there is nothing to project (not an emulated build, or not the cuda backend). */
ivl_bench_projection *ivl_bench_projection_new(const char *backend);
void ivl_bench_projection_free(ivl_bench_projection *p);
/* Counts the launches between begin and end as `phase`, divided by `units`. */
void ivl_bench_projection_begin(ivl_bench_projection *p);
void ivl_bench_projection_end(ivl_bench_projection *p, ivl_bench_phase phase, double units);
/* `weight_bytes`: what a decode step must read at least, for its fraction of the ceiling. */
void ivl_bench_projection_print_json(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out);
void ivl_bench_projection_print_text(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out);

#endif /* IVL_BENCH_PROJECTION_H */

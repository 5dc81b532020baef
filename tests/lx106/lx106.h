/*
 * lx106.h: what the test image's runtime (runtime.c) offers the checks.
 */
#ifndef LX106_H
#define LX106_H

#include <stddef.h>
#include <stdint.h>

/* Live heap, counted by the malloc/calloc/free wrappers: requested bytes,
 * without the allocator's own overhead. */
struct lx106_heap {
  size_t live_bytes;
  size_t live_blocks;
  size_t peak_bytes;   /* highest live_bytes since lx106_heap_mark() */
  unsigned bad_frees;  /* free() of a pointer malloc did not hand out */
  unsigned failed;     /* allocations that returned NULL */
};
extern struct lx106_heap lx106_heap;

/* Starts a new high-water measurement from the current live bytes. */
void lx106_heap_mark(void);

/* The CPU's cycle counter (CCOUNT), and how many thousand instructions
 * ran in `cycles` of it under the runner's QEMU (-icount shift=0). */
uint32_t lx106_cycles(void);
uint32_t lx106_kilo_instructions(uint32_t cycles);

/* Bytes of stack used since start or the last lx106_stack_repaint() (the
 * deepest word no longer holding the paint), and the size of the region
 * reserved for it. */
void lx106_stack_repaint(void);
size_t lx106_stack_used(void);
size_t lx106_stack_size(void);

#endif

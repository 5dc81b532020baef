/*
 * runtime.c: what the test image needs around picolibc on QEMU's sim
 * machine: output and exit through semihosting, abort(), an exception
 * report, a counting heap, the cycle counter and the stack measurement.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lx106.h"

/* ---- semihosting: the simcall instruction, Xtensa ISS numbering ---- */

enum { SIM_EXIT = 1, SIM_WRITE = 4 };

static int simcall(int call, int a, int b, int c) {
  register int a2 __asm__("a2") = call;
  register int a3 __asm__("a3") = a;
  register int a4 __asm__("a4") = b;
  register int a5 __asm__("a5") = c;
  __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
  return a2;
}

/* stdout, line-buffered: one simcall per line rather than per character. */
static char line[256];
static size_t line_len;

static int flush_line(FILE *f) {
  (void)f;
  if (line_len > 0) {
    simcall(SIM_WRITE, 1, (int)(uintptr_t)line, (int)line_len);
    line_len = 0;
  }
  return 0;
}

static int put_char(char c, FILE *f) {
  line[line_len++] = c;
  if (c == '\n' || line_len == sizeof line) {
    flush_line(f);
  }
  return (unsigned char)c;
}

static FILE console = FDEV_SETUP_STREAM(put_char, NULL, flush_line, _FDEV_SETUP_WRITE);
FILE *const stdin = &console;
FILE *const stdout = &console;
FILE *const stderr = &console;

/* The semihosting exit status becomes QEMU's exit status. */
void lx106_exit(int status) __attribute__((noreturn));
void lx106_exit(int status) {
  flush_line(stdout);
  simcall(SIM_EXIT, status, 0, 0);
  for (;;) {
  }
}

void _exit(int status) { lx106_exit(status); }

/* The library's panics end in abort() (it is built with immediate-abort):
 * on a device that is a reset, here a failed run. */
void abort(void) {
  printf("lx106: abort() called: the library panicked\n");
  lx106_exit(134);
}

/* Called by start.S for any exception (a bad pointer, an unaligned access,
 * an illegal instruction): say where, and fail. */
void lx106_exception(uint32_t cause, uint32_t pc, uint32_t address)
    __attribute__((noreturn));
void lx106_exception(uint32_t cause, uint32_t pc, uint32_t address) {
  printf("lx106: exception: EXCCAUSE %lu at pc 0x%08lx, address 0x%08lx\n",
         (unsigned long)cause, (unsigned long)pc, (unsigned long)address);
  lx106_exit(3);
}

/* ---- the counting heap ----
 * The linker wraps the library's malloc, calloc and free (--wrap): each
 * block gets a header before it with its size and a tag, so free() knows
 * how many bytes leave, and a pointer malloc never gave is noticed. The
 * header is 12 bytes, so every block is 4-aligned but never 8-aligned: the
 * worst the ESP8266 core's umm_malloc gives, and what the library's
 * allocator (src/ffi/embedded.rs) must cope with. */

#define BLOCK_TAG 0x6d717476u /* "mqtv" */

struct block_header {
  uint32_t size;
  uint32_t tag;
  uint32_t pad; /* picolibc's blocks are 8-aligned; this makes ours 4 mod 8 */
};

struct lx106_heap lx106_heap;

void *__real_malloc(size_t size);
void __real_free(void *ptr);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void __wrap_free(void *ptr);

void lx106_heap_mark(void) { lx106_heap.peak_bytes = lx106_heap.live_bytes; }

void *__wrap_malloc(size_t size) {
  struct block_header *h;
  if (size > SIZE_MAX - sizeof *h) {
    lx106_heap.failed++;
    return NULL;
  }
  h = __real_malloc(sizeof *h + size);
  if (h == NULL) {
    lx106_heap.failed++;
    return NULL;
  }
  h->size = (uint32_t)size;
  h->tag = BLOCK_TAG;
  lx106_heap.live_bytes += size;
  lx106_heap.live_blocks++;
  if (lx106_heap.live_bytes > lx106_heap.peak_bytes) {
    lx106_heap.peak_bytes = lx106_heap.live_bytes;
  }
  return h + 1;
}

/* Not picolibc's calloc: it would call malloc again and count twice. */
void *__wrap_calloc(size_t count, size_t size) {
  size_t total;
  void *p;
  if (__builtin_mul_overflow(count, size, &total)) {
    lx106_heap.failed++;
    return NULL;
  }
  p = __wrap_malloc(total);
  if (p != NULL) {
    memset(p, 0, total);
  }
  return p;
}

void __wrap_free(void *ptr) {
  struct block_header *h;
  if (ptr == NULL) {
    return;
  }
  h = (struct block_header *)ptr - 1;
  if (h->tag != BLOCK_TAG) {
    lx106_heap.bad_frees++;
    return;
  }
  h->tag = 0; /* a second free of the same block is then a bad free */
  lx106_heap.live_bytes -= h->size;
  lx106_heap.live_blocks--;
  __real_free(h);
}

/* ---- time ---- */

uint32_t lx106_cycles(void) {
  uint32_t c;
  __asm__ volatile("rsr %0, ccount" : "=r"(c));
  return c;
}

/* QEMU advances CCOUNT with its virtual clock at the core's 40 MHz; the
 * runner starts it with -icount shift=0, one instruction per virtual
 * nanosecond, so one CCOUNT tick is 25 instructions: counts that do not
 * depend on how busy the host is. */
uint32_t lx106_kilo_instructions(uint32_t cycles) { return cycles / 40; }

/* ---- stack ---- */

#define STACK_PAINT 0x5a5aa5a5u /* as in start.S */

extern uint32_t __stack_bottom[], __stack_top[];

size_t lx106_stack_size(void) {
  return (size_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

/* Paints the stack below the caller again (a margin below the current
 * stack pointer: this function's own stores stay above it). */
void lx106_stack_repaint(void) {
  uint32_t *sp, *p;
  __asm__ volatile("mov %0, a1" : "=r"(sp));
  for (p = __stack_bottom; p < sp - 16; p++) {
    *p = STACK_PAINT;
  }
}

size_t lx106_stack_used(void) {
  const uint32_t *p = __stack_bottom;
  while (p < __stack_top && *p == STACK_PAINT) {
    p++;
  }
  return (size_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/*
 * rom_arith.c: stand-ins for the integer helpers of the ESP8266 mask ROM.
 *
 * On a real chip the SDK's linker script maps __udivsi3, __umodsi3,
 * __muldi3, __udivdi3, __umoddi3 (and __divsi3) to addresses in the ROM, so
 * Debian's lx106 libgcc leaves them out and the library archive expects
 * them from the image. QEMU's sim machine has no such ROM: these take its
 * place in the test image only.
 *
 * The lx106 has a 32-bit multiplier (MULL, low word only) and no divider.
 * Nothing here may use `/` or `%`, or `*` on 64-bit values: the compiler
 * would turn those into calls to these very functions. Division is long
 * division, one quotient bit per step; the 64-bit product is built from
 * 16-bit partial products, which MULL computes exactly.
 *
 * Division by zero: the callers never divide by zero (Rust checks the
 * divisor first and panics), so the result is simply what the loop gives.
 */
#include <stdint.h>

uint32_t __udivsi3(uint32_t n, uint32_t d);
uint32_t __umodsi3(uint32_t n, uint32_t d);
int32_t __divsi3(int32_t n, int32_t d);
uint64_t __muldi3(uint64_t a, uint64_t b);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);

/* Long division of n by d: the quotient, and the remainder in *rem. */
static uint32_t divide32(uint32_t n, uint32_t d, uint32_t *rem) {
  uint32_t q = 0, r = 0;
  int bit;
  for (bit = 31; bit >= 0; bit--) {
    /* The remainder is below d, so shifting may carry out of 32 bits when
     * d is above 2^31; the carry means "certainly not below d". */
    uint32_t carry = r >> 31;
    r = (r << 1) | ((n >> bit) & 1u);
    if (carry || r >= d) {
      r -= d;
      q |= 1u << bit;
    }
  }
  *rem = r;
  return q;
}

static uint64_t divide64(uint64_t n, uint64_t d, uint64_t *rem) {
  uint64_t q = 0, r = 0;
  int bit;
  if ((n >> 32) == 0 && (d >> 32) == 0) {
    /* Most 64-bit divisions in the library are of small numbers. */
    uint32_t r32;
    q = divide32((uint32_t)n, (uint32_t)d, &r32);
    *rem = r32;
    return q;
  }
  for (bit = 63; bit >= 0; bit--) {
    uint64_t carry = r >> 63;
    r = (r << 1) | ((n >> bit) & 1u);
    if (carry || r >= d) {
      r -= d;
      q |= (uint64_t)1 << bit;
    }
  }
  *rem = r;
  return q;
}

uint32_t __udivsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  return divide32(n, d, &r);
}

uint32_t __umodsi3(uint32_t n, uint32_t d) {
  uint32_t r;
  (void)divide32(n, d, &r);
  return r;
}

/* Signed: divide the magnitudes, then give the quotient the sign C's
 * truncating division gives it. */
int32_t __divsi3(int32_t n, int32_t d) {
  uint32_t un = n < 0 ? 0u - (uint32_t)n : (uint32_t)n;
  uint32_t ud = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
  uint32_t r;
  uint32_t q = divide32(un, ud, &r);
  return (int32_t)(((n < 0) != (d < 0)) ? 0u - q : q);
}

uint64_t __udivdi3(uint64_t n, uint64_t d) {
  uint64_t r;
  return divide64(n, d, &r);
}

uint64_t __umoddi3(uint64_t n, uint64_t d) {
  uint64_t r;
  (void)divide64(n, d, &r);
  return r;
}

/* The full 64-bit product of two 32-bit numbers, from four 16x16-bit
 * products (each fits in 32 bits). */
static uint64_t widening_mul32(uint32_t a, uint32_t b) {
  uint32_t a0 = a & 0xffffu, a1 = a >> 16;
  uint32_t b0 = b & 0xffffu, b1 = b >> 16;
  uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  /* Bits 16..47 before carrying: at most three 16-bit terms. */
  uint32_t mid = (p00 >> 16) + (p01 & 0xffffu) + (p10 & 0xffffu);
  uint32_t lo = (mid << 16) | (p00 & 0xffffu);
  uint32_t hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
  return ((uint64_t)hi << 32) | lo;
}

/* The low 64 bits of a * b: the high halves only reach the upper word,
 * where their own high parts fall off. */
uint64_t __muldi3(uint64_t a, uint64_t b) {
  uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32);
  uint32_t bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
  uint64_t low = widening_mul32(al, bl);
  uint32_t cross = ah * bl + al * bh;
  return low + ((uint64_t)cross << 32);
}

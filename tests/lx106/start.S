/*
 * start.S: reset, exception vectors and start code of the lx106 test image.
 *
 * QEMU loads the ELF, then resets the CPU to the lx106 reset vector
 * 0x50000000 (not to the ELF entry), so a jump to _start sits there. The
 * start code paints the stack, clears .bss, points VECBASE at our vectors
 * (an exception then ends the run with a message instead of looping in an
 * empty vector), calls main and hands its result to the semihosting exit.
 */

/* What an unused stack word holds; lx106_stack_used() looks for it. */
#define STACK_PAINT 0x5a5aa5a5

/* ---- reset vector, at 0x50000000 ---- */
        .section .reset.text, "ax"
        .global _reset_vector
        .begin no-transform
_reset_vector:
        j       1f
        .align  4
2:      .word   _start
1:      l32r    a0, 2b          /* _start is far away: jump through a0 */
        jx      a0
        .end no-transform

/* ---- exception vectors, VECBASE-relative offsets of the lx106 ---- */
        .section .vectors.text, "ax"
        .global _vectors
        .align  256
        .begin no-transform
_vectors:
        .org    _vectors + 0x10     /* debug */
        j       _other_exception
        .org    _vectors + 0x20     /* NMI */
        j       _other_exception
        .org    _vectors + 0x30     /* kernel */
        j       _exception
        .org    _vectors + 0x50     /* user */
        j       _exception
        .org    _vectors + 0x70     /* double */
        j       _other_exception
        .end no-transform

        /* An exception: report cause, PC and faulting address from C. */
        .align  4
_exception:
        rsr     a2, exccause
        rsr     a3, epc1
        rsr     a4, excvaddr
        call0   lx106_exception     /* does not return */
        /* Debug, NMI or double exception: nothing is safe to call. */
_other_exception:
        movi    a2, 1               /* semihosting exit */
        movi    a3, 4
        simcall
3:      j       3b

/* ---- start code ---- */
        .section .text.lx106_start, "ax"
        .literal_position
        .global _start
        .align  4
_start:
        /* Call0 code in user mode, interrupts masked, not in an exception. */
        movi    a0, 0x2f            /* PS.UM | PS.INTLEVEL 15 */
        wsr     a0, ps
        rsync
        movi    a0, _vectors
        wsr     a0, vecbase
        isync

        /* Paint the whole stack before anything runs on it. */
        movi    a2, __stack_bottom
        movi    a3, __stack_top
        movi    a4, STACK_PAINT
4:      s32i    a4, a2, 0
        addi    a2, a2, 4
        bltu    a2, a3, 4b
        mov     a1, a3

        /* .bss starts zeroed on a real boot only if someone clears it. */
        movi    a2, __bss_start
        movi    a3, __bss_end
        movi    a4, 0
        bgeu    a2, a3, 6f
5:      s32i    a4, a2, 0
        addi    a2, a2, 4
        bltu    a2, a3, 5b
6:
        call0   main
        call0   lx106_exit          /* main's status is already in a2 */
7:      j       7b

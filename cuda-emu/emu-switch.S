/* emu-switch.S — the fiber switch of the CUDA emulation (x86-64 System V): saves the
 * callee-saved registers on the current stack, stores its pointer in *rdi, and resumes the
 * stack in rsi. No signal mask is saved: kernels do not touch it, and swapcontext's
 * sigprocmask system call per switch would dominate the run time. */
        .text
        .globl  ivl_emu_switch
        .type   ivl_emu_switch, @function
ivl_emu_switch:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   ivl_emu_switch, .-ivl_emu_switch

/* A new fiber's first return lands here with its thread in r12. */
        .globl  ivl_emu_fiber_start
        .type   ivl_emu_fiber_start, @function
ivl_emu_fiber_start:
        movq    %r12, %rdi
        call    ivl_emu_fiber_main@PLT
        ud2
        .size   ivl_emu_fiber_start, .-ivl_emu_fiber_start

        .section .note.GNU-stack,"",@progbits

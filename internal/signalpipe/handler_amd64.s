#include "textflag.h"

// The handler the kernel calls for a relayed signal, with the C ABI: the
// signal's number in DI. It writes that number, one byte, to the pipe
// whose write end is in ·writeEnd, and returns to the restorer. A write(2)
// is all it does: it touches no Go state, takes no lock and allocates
// nothing, so it is safe wherever the signal lands. If the pipe is full
// (or not yet open) the write fails and the signal is dropped, as the Go
// runtime drops one whose channel is full.
TEXT ·handler(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$8, SP
	MOVQ	DI, 0(SP)
	MOVQ	·writeEnd(SB), DI
	MOVQ	SP, SI
	MOVQ	$1, DX
	MOVQ	$1, AX // SYS_write
	SYSCALL
	ADDQ	$8, SP
	RET

// The restorer the handler returns to: rt_sigreturn(2) puts back the
// registers and signal mask the kernel saved when it delivered the signal.
TEXT ·restorer(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$15, AX // SYS_rt_sigreturn
	SYSCALL
	INT	$3 // not reached

// func entryPoints() (handler, restorer uintptr)
TEXT ·entryPoints(SB),NOSPLIT,$0-16
	LEAQ	·handler(SB), AX
	MOVQ	AX, handler+0(FP)
	LEAQ	·restorer(SB), AX
	MOVQ	AX, restorer+8(FP)
	RET

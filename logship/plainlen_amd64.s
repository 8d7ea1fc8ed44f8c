#include "textflag.h"

// MARK sets, in dst, 0xff for each byte of src that a JSON string cannot
// hold as it is: below 0x20 or 0x80 and above (as signed bytes, all below
// 0x20), '"' or '\\'. X1, X2 and X3 hold sixteen 0x20, '"' and '\\'; src
// and X5 are overwritten.
#define MARK(src, dst) \
	MOVO    X1, dst; \
	PCMPGTB src, dst; \
	MOVO    src, X5; \
	PCMPEQB X2, X5; \
	PCMPEQB X3, src; \
	POR     X5, dst; \
	POR     src, dst

// func plainLenSSE2(s []byte) int
TEXT ·plainLenSSE2(SB), NOSPLIT, $0-32
	MOVQ s_base+0(FP), SI
	MOVQ s_len+8(FP), BX
	MOVQ $0x2020202020202020, AX
	MOVQ AX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X2
	PUNPCKLQDQ X2, X2
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X3
	PUNPCKLQDQ X3, X3
	XORQ CX, CX

	// Thirty-two bytes at a time.
pairs:
	LEAQ 32(CX), DX
	CMPQ DX, BX
	JA   block
	MOVOU (SI)(CX*1), X4
	MOVOU 16(SI)(CX*1), X6
	MARK(X4, X0)
	MARK(X6, X7)
	MOVO X0, X8
	POR  X7, X8
	PMOVMSKB X8, AX
	TESTL AX, AX
	JNZ  pairfound
	MOVQ DX, CX
	JMP  pairs

pairfound:
	PMOVMSKB X0, AX
	PMOVMSKB X7, DX
	SHLQ $16, DX
	ORQ  DX, AX
	BSFQ AX, AX
	ADDQ CX, AX
	MOVQ AX, ret+24(FP)
	RET

	// Then sixteen.
block:
	LEAQ 16(CX), DX
	CMPQ DX, BX
	JA   last
	MOVOU (SI)(CX*1), X4
	MARK(X4, X0)
	PMOVMSKB X0, AX
	TESTL AX, AX
	JNZ  found
	MOVQ DX, CX

	// The last bytes, in sixteen that end at the end of s: those before
	// CX are plain, so the lowest byte marked is the first special one.
last:
	CMPQ CX, BX
	JEQ  none
	MOVQ BX, CX
	SUBQ $16, CX
	MOVOU (SI)(CX*1), X4
	MARK(X4, X0)
	PMOVMSKB X0, AX
	TESTL AX, AX
	JZ   none

found:
	BSFL AX, AX
	ADDQ CX, AX
	MOVQ AX, ret+24(FP)
	RET

none:
	MOVQ BX, ret+24(FP)
	RET

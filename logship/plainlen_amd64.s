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

// MARKERS loads X1, X2 and X3 for MARK.
#define MARKERS \
	MOVQ $0x2020202020202020, AX; \
	MOVQ AX, X1; \
	PUNPCKLQDQ X1, X1; \
	MOVQ $0x2222222222222222, AX; \
	MOVQ AX, X2; \
	PUNPCKLQDQ X2, X2; \
	MOVQ $0x5c5c5c5c5c5c5c5c, AX; \
	MOVQ AX, X3; \
	PUNPCKLQDQ X3, X3

// COPYPAIR copies the thirty-two bytes at SI+s to DI+d, then marks them:
// the first sixteen in X0, the others in X7, and AX is not zero when a
// byte is marked.
#define COPYPAIR(s, d) \
	MOVOU (SI)(s*1), X4; \
	MOVOU 16(SI)(s*1), X6; \
	MOVOU X4, (DI)(d*1); \
	MOVOU X6, 16(DI)(d*1); \
	MARK(X4, X0); \
	MARK(X6, X7); \
	MOVO X0, X8; \
	POR  X7, X8; \
	PMOVMSKB X8, AX

// PAIRFIRST sets AX to the offset, in the pair COPYPAIR marked, of the
// first byte marked (R13 is overwritten).
#define PAIRFIRST \
	PMOVMSKB X0, AX; \
	PMOVMSKB X7, R13; \
	SHLQ $16, R13; \
	ORQ  R13, AX; \
	BSFQ AX, AX

// COPYBLOCK copies the sixteen bytes at SI+s to DI+d, then marks them in
// X0, one bit each in AX.
#define COPYBLOCK(s, d) \
	MOVOU (SI)(s*1), X4; \
	MOVOU X4, (DI)(d*1); \
	MARK(X4, X0); \
	PMOVMSKB X0, AX

// func copyPlainSSE2(dst, s []byte) int
//
// Returns how many bytes at the start of s a JSON string holds as they
// are, looking at thirty-two bytes at a time, then sixteen, then the
// sixteen that end at the end of s (those before them are plain, so the
// lowest byte marked is the first special one). Each sixteen bytes looked
// at are copied to the same place in dst first: dst[:n] is s[:n] for the
// n returned, and bytes of dst after n, up to len(s), may be overwritten
// too.
TEXT ·copyPlainSSE2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ s_base+24(FP), SI
	MOVQ s_len+32(FP), BX
	MARKERS
	XORQ CX, CX

cpairs:
	LEAQ 32(CX), DX
	CMPQ DX, BX
	JA   cblock
	COPYPAIR(CX, CX)
	TESTL AX, AX
	JNZ  cpairfound
	MOVQ DX, CX
	JMP  cpairs

cpairfound:
	PAIRFIRST
	ADDQ CX, AX
	MOVQ AX, ret+48(FP)
	RET

cblock:
	LEAQ 16(CX), DX
	CMPQ DX, BX
	JA   clast
	COPYBLOCK(CX, CX)
	TESTL AX, AX
	JNZ  cfound
	MOVQ DX, CX

clast:
	CMPQ CX, BX
	JEQ  cnone
	MOVQ BX, CX
	SUBQ $16, CX
	COPYBLOCK(CX, CX)
	TESTL AX, AX
	JZ   cnone

cfound:
	BSFL AX, AX
	ADDQ CX, AX
	MOVQ AX, ret+48(FP)
	RET

cnone:
	MOVQ BX, ret+48(FP)
	RET

// func appendJSONLinesSSE2(dst, start, s []byte) (written, consumed int, escape bool)
//
// For each line at the start of s that a newline ends and that holds
// only plain bytes, writes start, the line and `"}` and a newline to dst,
// while dst has room and s has sixteen bytes left to look at. It stops
// before the first line it cannot write so, and returns how many bytes of
// dst it wrote and of s it consumed (the lines and their newlines), and
// whether it stopped at a byte to escape. len(start) must be at least
// sixteen.
TEXT ·appendJSONLinesSSE2(SB), NOSPLIT, $0-89
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), R8
	MOVQ start_base+24(FP), R9
	MOVQ start_len+32(FP), R10
	MOVQ s_base+48(FP), SI
	MOVQ s_len+56(FP), BX
	MARKERS
	XORQ CX, CX // s offset
	XORQ DX, DX // dst offset
	XORQ R11, R11 // s offset of the lines written
	XORQ R12, R12 // dst offset of the lines written

line:
	// Room for the start, a block and the end; a block of s to look at.
	LEAQ 19(DX)(R10*1), AX
	CMPQ AX, R8
	JA   done
	LEAQ 16(CX), AX
	CMPQ AX, BX
	JA   done
	// The start, sixteen bytes at a time, the last sixteen ending at its
	// end.
	XORQ R13, R13
startcopy:
	LEAQ 16(R13), AX
	CMPQ AX, R10
	JA   startlast
	MOVOU (R9)(R13*1), X4
	MOVOU X4, (DI)(DX*1)
	ADDQ $16, DX
	MOVQ AX, R13
	JMP  startcopy
startlast:
	CMPQ R13, R10
	JEQ  scanpairs
	SUBQ R13, DX // where the start begins
	MOVQ R10, AX
	SUBQ $16, AX
	MOVOU (R9)(AX*1), X4
	ADDQ DX, AX
	MOVOU X4, (DI)(AX*1)
	ADDQ R10, DX
	JMP  scanpairs

	// The line, thirty-two bytes at a time, then sixteen, each copied
	// before it is looked at, while there is room for them and the end.
scanpairs:
	LEAQ 32(CX), AX
	CMPQ AX, BX
	JA   scan
	LEAQ 35(DX), AX
	CMPQ AX, R8
	JA   scan
	COPYPAIR(CX, DX)
	TESTL AX, AX
	JNZ  pairspecial
	ADDQ $32, CX
	ADDQ $32, DX
	JMP  scanpairs

pairspecial:
	PAIRFIRST
	JMP  found

scan:
	LEAQ 16(CX), AX
	CMPQ AX, BX
	JA   done
	LEAQ 19(DX), AX
	CMPQ AX, R8
	JA   done
	COPYBLOCK(CX, DX)
	TESTL AX, AX
	JNZ  special
	ADDQ $16, CX
	ADDQ $16, DX
	JMP  scanpairs

special:
	BSFL AX, AX
found:
	ADDQ AX, CX
	ADDQ AX, DX
	MOVBLZX (SI)(CX*1), AX
	CMPQ AX, $0x0a
	JNE  escape
	MOVW $0x7d22, (DI)(DX*1)
	MOVB $0x0a, 2(DI)(DX*1)
	ADDQ $3, DX
	INCQ CX
	MOVQ CX, R11
	MOVQ DX, R12
	JMP  line

escape:
	MOVB $1, escape+88(FP)
	MOVQ R12, written+72(FP)
	MOVQ R11, consumed+80(FP)
	RET

done:
	MOVB $0, escape+88(FP)
	MOVQ R12, written+72(FP)
	MOVQ R11, consumed+80(FP)
	RET

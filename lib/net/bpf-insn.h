/* bpf-insn.h: the few eBPF instructions the egress programs are made of.
 *
 * The library builds its programs itself instead of linking libbpf or
 * needing clang on the host: they are a dozen instructions each.  The
 * encodings are those of the kernel's Documentation/bpf/standardization. */
#ifndef OC_NET_BPF_INSN_H
#define OC_NET_BPF_INSN_H

#include <linux/bpf.h>

#define BPF_INSN(c, d, s, o, i) \
    ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* dst = src; dst = imm (64-bit) */
#define INSN_MOV_REG(dst, src) BPF_INSN(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define INSN_MOV_IMM(dst, imm) BPF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
/* dst += imm; dst >>= imm (64-bit) */
#define INSN_ADD_IMM(dst, imm) BPF_INSN(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
#define INSN_RSH_IMM(dst, imm) BPF_INSN(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm)
/* dst = *(size *)(src + off) */
#define INSN_LDX(size, dst, src, off) BPF_INSN(BPF_LDX | BPF_MEM | (size), dst, src, off, 0)
/* *(size *)(dst + off) = src */
#define INSN_STX(size, dst, off, src) BPF_INSN(BPF_STX | BPF_MEM | (size), dst, src, off, 0)
/* *(size *)(dst + off) = imm */
#define INSN_ST(size, dst, off, imm) BPF_INSN(BPF_ST | BPF_MEM | (size), dst, 0, off, imm)
/* if (dst op imm) goto pc + off */
#define INSN_JMP_IMM(op, dst, imm, off) BPF_INSN(BPF_JMP | (op) | BPF_K, dst, 0, off, imm)
#define INSN_CALL(helper) BPF_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
#define INSN_EXIT() BPF_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* dst = the map whose fd is fd: two instruction slots. */
#define INSN_LD_MAP_FD(dst, fd)                                             \
    BPF_INSN(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd),     \
    BPF_INSN(0, 0, 0, 0, 0)

#endif

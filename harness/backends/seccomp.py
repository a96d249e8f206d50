"""The sandbox's seccomp filter: a classic BPF program, written by hand, that bubblewrap
loads (`--seccomp FD`) before it starts the job.

Capabilities are dropped and the job runs in its own user namespace, so most of what is
denied here would fail anyway; the filter is the second wall, and it also closes what an
unprivileged process may do on its own (a nested user namespace, ptrace of a sibling,
the kernel keyring, `TIOCSTI`). A training job needs none of it. No library: the
official libseccomp bindings are not on PyPI (only Debian's python3-seccomp, for the
system Python), PyPI's ctypes shim `pyseccomp` has had no release since 2021, and the
program is a few dozen instructions whose numbers tests check against the kernel.
"""

from __future__ import annotations

import errno
import platform
import struct

# Denied with EPERM: mounting, the namespaces, reaching other processes' memory, file
# handles (open_by_handle_at reads files the sandbox does not show), the keyring, kernel
# modules and kexec, bpf and perf, userfaultfd, swap, reboot, acct, and the new mount API.
DENIED = (
    "mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig fsmount fspick "
    "mount_setattr unshare setns open_by_handle_at name_to_handle_at ptrace "
    "process_vm_readv process_vm_writev add_key request_key keyctl init_module "
    "finit_module delete_module kexec_load kexec_file_load bpf perf_event_open userfaultfd "
    "swapon swapoff reboot acct quotactl lookup_dcookie vhangup"
).split()
X86_ONLY = ("iopl", "ioperm")
_MACHINES = ("x86_64", "aarch64")
# Each call's number on x86_64 and on aarch64 (from Linux 5.1 on, new calls share one).
_NUMBERS = {
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442), "unshare": (272, 97), "setns": (308, 268),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "add_key": (248, 217),
    "request_key": (249, 218), "keyctl": (250, 219), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "kexec_load": (246, 104),
    "kexec_file_load": (320, 294), "bpf": (321, 280), "perf_event_open": (298, 241),
    "userfaultfd": (323, 282), "swapon": (167, 224), "swapoff": (168, 225),
    "reboot": (169, 142), "acct": (163, 89), "quotactl": (179, 60),
    "lookup_dcookie": (212, 18), "vhangup": (153, 58), "iopl": (172, None),
    "ioperm": (173, None), "clone": (56, 220), "clone3": (435, 435), "ioctl": (16, 29),
}  # fmt: skip
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: the same calls under other numbers
# clone() with any CLONE_NEW* flag (ns, cgroup, uts, ipc, user, pid, net) makes a namespace.
_CLONE_NAMESPACES = 0x7E020000
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C  # push input into a terminal

_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_DENY = 0x00050000 | errno.EPERM
# clone3 takes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
_NOSYS = 0x00050000 | errno.ENOSYS
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24  # struct seccomp_data offsets (low words)


def supported() -> bool:
    """Whether a filter can be built for this machine's architecture."""
    return platform.machine() in _MACHINES


def program(machine: str | None = None) -> bytes:
    """The filter for `machine` (this one's by default) as `struct sock_filter`s."""
    machine = machine or platform.machine()
    column = _MACHINES.index(machine)
    numbers = {name: pair[column] for name, pair in _NUMBERS.items()}
    denied = [*DENIED, *(X86_ONLY if machine == "x86_64" else ())]
    code: list[tuple[int, str | None, int]] = [  # (opcode, jump label or None, k)
        (_LD_ABS, None, _ARCH),
        (_JEQ, "syscall", _AUDIT_ARCH[machine]),
        (_RET, None, _DENY),
        ("syscall", None, 0),
        (_LD_ABS, None, _NR),
    ]
    if machine == "x86_64":
        code.append((_JGE, "deny", _X32_BIT))
    code += [(_JEQ, "deny", numbers[name]) for name in denied]
    code += [(_JEQ, "nosys", numbers["clone3"]), (_JEQ, "clone", numbers["clone"])]
    code += [(_JEQ, "ioctl", numbers["ioctl"]), (_RET, None, _ALLOW)]
    code += [("clone", None, 0), (_LD_ABS, None, _ARG0), (_JSET, "deny", _CLONE_NAMESPACES)]
    code += [(_RET, None, _ALLOW), ("ioctl", None, 0), (_LD_ABS, None, _ARG1)]
    code += [(_JEQ, "deny", _TIOCSTI), (_JEQ, "deny", _TIOCLINUX), (_RET, None, _ALLOW)]
    code += [("deny", None, 0), (_RET, None, _DENY), ("nosys", None, 0), (_RET, None, _NOSYS)]
    return _assemble(code)


def _assemble(code: list) -> bytes:
    """Resolve the labels (entries whose opcode is a name) to relative jumps: a
    conditional jump goes to its label when true and falls through when false."""
    labels, instructions = {}, []
    for entry in code:
        if isinstance(entry[0], str):
            labels[entry[0]] = len(instructions)
        else:
            instructions.append(entry)
    out = b""
    for index, (opcode, label, k) in enumerate(instructions):
        jump = 0 if label is None else labels[label] - index - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"seccomp jump to {label} out of range")
        out += struct.pack("=HBBI", opcode, jump, 0, k)
    return out

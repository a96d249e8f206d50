"""The sandbox's seccomp filter: a classic BPF program, written by hand, that bubblewrap
loads (`--seccomp FD`) before it starts the job.

Capabilities are dropped and the job runs in its own user namespace, so most of what is
denied here would fail anyway; the filter is the second wall, and it also closes what an
unprivileged process may do on its own (a nested user namespace, ptrace of a sibling,
the kernel keyring, `TIOCSTI`). A training job needs none of it. No library is needed:
libseccomp's Python bindings are not on PyPI, and the program is a few dozen
instructions.
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
_NUMBERS = {
    "x86_64": {
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272,
        "setns": 308, "open_by_handle_at": 304, "name_to_handle_at": 303, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "add_key": 248,
        "request_key": 249, "keyctl": 250, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "swapon": 167, "swapoff": 168,
        "reboot": 169, "acct": 163, "quotactl": 179, "lookup_dcookie": 212, "vhangup": 153,
        "iopl": 172, "ioperm": 173, "clone": 56, "ioctl": 16,
    },
    "aarch64": {
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97,
        "setns": 268, "open_by_handle_at": 265, "name_to_handle_at": 264, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "add_key": 217,
        "request_key": 218, "keyctl": 219, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "swapon": 224, "swapoff": 225,
        "reboot": 142, "acct": 89, "quotactl": 60, "lookup_dcookie": 18, "vhangup": 58,
        "clone": 220, "ioctl": 29,
    },
}  # fmt: skip
# The same on every architecture since Linux 5.1's unified numbering.
for _table in _NUMBERS.values():
    _table.update(open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433)
    _table.update(clone3=435, mount_setattr=442)
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
    return platform.machine() in _NUMBERS


def program(machine: str | None = None) -> bytes:
    """The filter for `machine` (this one's by default) as `struct sock_filter`s."""
    machine = machine or platform.machine()
    numbers = _NUMBERS[machine]
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

"""Probe jobs for the escape suite: each a plain Python `train.py` (no TensorFlow, so it
starts in a tenth of a second) that tries one way out of the sandbox and writes what
happened to `<output_dir>/escape.json`. The same probe runs natively, where the escape
must work (proving the probe does), and in the sandbox, where it must not.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PRELUDE = textwrap.dedent(
    """\
    import ctypes, errno, fcntl, json, os, select, sys, termios, time
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    libc = ctypes.CDLL(None, use_errno=True)


    def report(**facts):
        out = flags.get("output_dir", "/data/output")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "escape.json"), "w") as handle:
            json.dump(facts, handle)


    def call(name, *args):
        # "ok" or the errno's name: what the kernel said to one system call.
        result = getattr(libc, name)(*args)
        return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]


    def in_child(action):
        # Run `action` in a forked child (it may change the process for good); its answer.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            os.write(write, action().encode())
            os._exit(0)
        os.close(write)
        answer = os.read(read, 100).decode()
        os.waitpid(pid, 0)
        return answer
    """
)

PROBES = {
    # Who the job is: its uid, its capabilities, its seccomp mode.
    "identity": """
        status = dict(
            line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
        )
        report(uid=os.getuid(), cap_eff=status["CapEff"].strip(),
               seccomp=status["Seccomp"].strip(), fds=sorted(os.listdir("/proc/self/fd")))
    """,
    # Write a host file the sandbox shows read-only (--target): directly, and if that is
    # refused, after remounting its mount read-write (what root with CAP_SYS_ADMIN could).
    "host_write": """
        target = flags["target"]
        def write():
            try:
                with open(target, "a") as handle:
                    handle.write("escaped\\n")
                return "ok"
            except OSError as err:
                return errno.errorcode[err.errno]
        first = write()
        remount = second = None
        if first != "ok":
            mount_point = os.path.dirname(target)
            while not os.path.ismount(mount_point):
                mount_point = os.path.dirname(mount_point)
            MS_REMOUNT, MS_BIND = 32, 4096
            remount = call("mount", b"none", mount_point.encode(), None,
                           MS_REMOUNT | MS_BIND, None)
            second = write()
        report(direct=first, remount=remount, after_remount=second,
               written="ok" in (first, second))
    """,
    # Read a file the sandbox hides through a handle taken outside (--handle, --handle_type)
    # and a folder it shows on the same file system (--mount).
    "open_by_handle": """
        raw = bytes.fromhex(flags["handle"])
        handle = ctypes.create_string_buffer(8 + len(raw))
        ctypes.memmove(handle, len(raw).to_bytes(4, sys.byteorder), 4)
        ctypes.memmove(ctypes.byref(handle, 4),
                       int(flags["handle_type"]).to_bytes(4, sys.byteorder, signed=True), 4)
        ctypes.memmove(ctypes.byref(handle, 8), raw, len(raw))
        mount_fd = os.open(flags["mount"], os.O_RDONLY | os.O_DIRECTORY)
        fd = libc.open_by_handle_at(mount_fd, handle, os.O_RDONLY)
        if fd < 0:
            report(opened=errno.errorcode[ctypes.get_errno()], content=None)
        else:
            report(opened="ok", content=os.read(fd, 100).decode())
    """,
    # What the seccomp filter denies even to an unprivileged process, and mounting.
    "syscalls": """
        CLONE_NEWUSER, CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x10000000, 0x20000, 16384, 1 << 18
        def ptrace():
            child = os.fork()
            if child == 0:
                time.sleep(5)
                os._exit(0)
            answer = call("ptrace", 16, child, None, None)  # PTRACE_ATTACH
            os.kill(child, 9)
            os.waitpid(child, 0)
            return answer
        def mount():  # in a private mount namespace where one can be made (natively)
            if call("unshare", CLONE_NEWNS) == "ok":
                call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)
            return call("mount", b"none", flags["target"].encode(), b"tmpfs", 0, None)
        report(
            unshare=in_child(lambda: call("unshare", CLONE_NEWUSER)),
            ptrace=ptrace(),
            mount=in_child(mount),
            keyctl=call("syscall", 250 if os.uname().machine == "x86_64" else 219, 0, -3, 0),
        )
    """,
    # Push a keystroke into a terminal (stdin, stdout, stderr or /dev/tty).
    "tiocsti": """
        answers = {}
        for fd, name in enumerate(("stdin", "stdout", "stderr", "/dev/tty")):
            try:
                fd = os.open(name, os.O_RDWR) if name.startswith("/") else fd
                fcntl.ioctl(fd, termios.TIOCSTI, b"x")
                answers[name] = "ok"
            except OSError as err:
                answers[name] = errno.errorcode[err.errno]
        report(injected=[name for name, said in answers.items() if said == "ok"], said=answers)
    """,
    # Read standard input: must be at its end at once, never the harness's.
    "stdin": """
        ready = select.select([0], [], [], 3)[0]
        data = os.read(0, 100).decode(errors="replace") if ready else None
        report(eof=data == "", data=data)
    """,
    # A daemon (forked twice, its own session) that keeps appending to --target.
    "daemon": """
        read, write = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(write, str(os.getpid()).encode())
                os.close(write)
                for fd in (0, 1, 2):
                    os.dup2(os.open("/dev/null", os.O_RDWR), fd)
                while True:
                    with open(flags["target"], "a") as handle:
                        handle.write(".")
                    time.sleep(0.02)
            os._exit(0)
        os.close(write)
        pid = int(os.read(read, 20))
        os.wait()
        report(daemon=pid)
    """,
}


def write_probe(folder: Path, name: str) -> Path:
    """A code folder whose `train.py` is the probe `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(PRELUDE + textwrap.dedent(PROBES[name]))
    return folder

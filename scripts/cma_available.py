"""Exit 0 when this process may read another process's memory with process_vm_readv (Linux
cross-memory attach, "CMA"), 1 when not. OpenMPI's shared-memory transport (vader) copies a
large message once with CMA and twice without it; containers often forbid it (seccomp, Yama
ptrace_scope), and OpenMPI then fails at the first large message instead of falling back, so
scripts/mpirun_test.sh asks first."""
import ctypes
import os
import sys
import time


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "process_vm_readv"):
        return 1
    src = ctypes.create_string_buffer(b"duet-cma", 16)
    pid = os.fork()
    if pid == 0:  # the child only has to exist while the parent reads its copy of `src`
        time.sleep(5)
        os._exit(0)
    try:
        dst = ctypes.create_string_buffer(16)
        local = IoVec(ctypes.cast(dst, ctypes.c_void_p), 16)
        remote = IoVec(ctypes.cast(src, ctypes.c_void_p), 16)
        n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        return 0 if n == 16 and dst.value == b"duet-cma" else 1
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    sys.exit(main())

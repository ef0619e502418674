#!/usr/bin/env python3
"""Minimal `oxen` command-line stand-in built on the oxenai PyPI package.

The oxenai wheel on PyPI ships only the Python bindings (oxen/oxen_py.abi3.so,
compiled from the same Rust crate `liboxen` as the official `oxen` CLI) and no
`oxen` executable.  To keep process-start overhead close to that of a native
binary, this wrapper loads the compiled extension directly (about 6 ms)
instead of `import oxen`, which pulls in pandas/polars/pyarrow (about 0.6 s,
+45 MB RSS).

Usage (run inside the repository directory, like the real CLI):
    oxen_cli.py init [DIR]
    oxen_cli.py add PATH...
    oxen_cli.py commit -m MSG        # prints the commit id
    oxen_cli.py status
    oxen_cli.py checkout BRANCH       # branch names only: the binding does not
                                      # resolve commit ids
    oxen_cli.py checkout -b BRANCH    # create a branch at HEAD and switch to it
    oxen_cli.py config-user NAME EMAIL
    oxen_cli.py noop                  # load the binding and exit (start-up cost)
    oxen_cli.py so-path               # print the path of the compiled binding

Set OXEN_CLI_TIMING=1 to print the in-process time of the operation
("oxen_op_seconds=..." on stderr), i.e. the time excluding interpreter start.
"""
import importlib.machinery
import importlib.util
import os
import sys
import time


def find_so():
    spec = importlib.util.find_spec("oxen")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("oxen_cli: python package 'oxenai' is not installed (pip install oxenai)")
    pkgdir = list(spec.submodule_search_locations)[0]
    for name in sorted(os.listdir(pkgdir)):
        if name.startswith("oxen_py") and name.endswith(".so"):
            return os.path.join(pkgdir, name)
    sys.exit(f"oxen_cli: no oxen_py*.so in {pkgdir}")


def _load_ext():
    # OXEN_PY_SO lets the caller run this script with `python3 -S` (no site
    # import: saves ~50 ms of start-up here), passing the binding's path.
    so = os.environ.get("OXEN_PY_SO") or find_so()
    loader = importlib.machinery.ExtensionFileLoader("oxen_py", so)
    s = importlib.util.spec_from_file_location("oxen_py", so, loader=loader)
    mod = importlib.util.module_from_spec(s)
    loader.exec_module(mod)
    return mod


def _config_dir(ext):
    return ext.util.get_oxen_config_dir()


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    t0 = time.perf_counter()
    if cmd == "so-path":
        print(find_so())
        return 0
    ext = _load_ext()
    if cmd == "noop":              # measures the wrapper's start-up cost
        pass
    elif cmd == "config-user":
        name, email = args
        ext.user.config_user(name, email, os.path.join(_config_dir(ext), "user_config.toml"))
    elif cmd == "init":
        path = os.path.abspath(args[0] if args else ".")
        os.makedirs(path, exist_ok=True)
        ext.PyRepo(path).init()
    else:
        repo = ext.PyRepo(os.path.abspath("."))
        if cmd == "add":
            for p in args:
                repo.add(os.path.abspath(p))
        elif cmd == "commit":
            if len(args) != 2 or args[0] != "-m":
                sys.exit("usage: oxen_cli.py commit -m MSG")
            c = repo.commit(args[1])
            cid = getattr(c, "id", None)
            print(cid() if callable(cid) else (cid if cid is not None else c))
        elif cmd == "status":
            st = repo.status()
            print(st)
        elif cmd == "checkout":
            # PyRepo.checkout resolves branch names only (not commit ids).
            if args[0] == "-b":
                repo.checkout(args[1], True)
            else:
                repo.checkout(args[0], False)
        elif cmd == "log":
            for c in repo.log():
                print(c)
        else:
            sys.exit(f"oxen_cli: unknown command {cmd}")
    if os.environ.get("OXEN_CLI_TIMING"):
        print(f"oxen_op_seconds={time.perf_counter() - t0:.6f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

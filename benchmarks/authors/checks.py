"""The checks both authors' sections make before they start: the checkouts, the torch
interpreter and the width divider. Every failure is one `AuthorsError` line naming
the option or path and what is wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

#: The repositories by the short names of `torch_models.load_module`.
CHECKOUTS = {"abn": "gushan/ABN", "nobn": "VITA-Group/BNN_NoBN"}
#: The option that gives each checkout.
OPTIONS = {"abn": "--abn-checkout", "nobn": "--nobn-checkout"}


class AuthorsError(ValueError):
    """A checkout, interpreter, width or recipe the authors' sections cannot use (the
    message says which and why)."""


def check_checkout(path, repo: str, modules) -> Path:
    """`path` as a `Path` after checking that it is a `CHECKOUTS[repo]` checkout with
    `models/<module>.py` for every one of `modules` and, for BNN_NoBN, its `agc.py`
    (both authors' sections clip with it).

    # Raises
        AuthorsError: No path, not a folder, or a file is missing.
    """
    files = [f"models/{module}.py" for module in modules]
    files += ["agc.py"] if repo == "nobn" else []
    if path is None:
        raise AuthorsError(f"{OPTIONS[repo]} is needed: the path of a {CHECKOUTS[repo]} "
                           "checkout.")
    path = Path(path)
    if not path.is_dir():
        raise AuthorsError(f"{OPTIONS[repo]} {str(path)!r} is not a folder.")
    missing = [name for name in files if not (path / name).is_file()]
    if missing:
        raise AuthorsError(f"{OPTIONS[repo]} {str(path)!r} is not a {CHECKOUTS[repo]} "
                           "checkout: it lacks " + ", ".join(missing) + ".")
    return path


def check_torch(python) -> str:
    """The torch version importable by the interpreter `python`.

    # Raises
        AuthorsError: `python` does not run or cannot import torch (with the last line
            of its error output).
    """
    try:
        done = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                              capture_output=True, text=True, timeout=300)
    except OSError as error:
        raise AuthorsError(f"--torch-python {python}: cannot run it ({error}).") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise AuthorsError(f"--torch-python {python}: cannot import torch ({last}).")
    return done.stdout.strip()


def divider(width_multiplier: float) -> int:
    """`1 / width_multiplier` as an integer: the authors' channel counts are narrowed
    by whole dividers (`torch_models.build`).

    # Raises
        AuthorsError: `1 / width_multiplier` is not a whole number.
    """
    value = 1 / width_multiplier
    if value < 1 - 1e-9 or abs(value - round(value)) > 1e-9:
        raise AuthorsError(f"width {width_multiplier!r} is not 1 / n for a whole n; the "
                           "authors' channels cannot be divided by it.")
    return int(round(value))

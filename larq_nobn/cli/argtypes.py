"""`argparse` argument types of the `larq-nobn` subcommands: each turns a command-line
string into a value or raises `argparse.ArgumentTypeError` naming the bad text and what
is accepted (argparse then prints a usage error and exits with status 2)."""

import argparse


def _bounded(convert, accepts, expected):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, lambda v: v >= 1, "an integer >= 1")
non_negative_int = _bounded(int, lambda v: v >= 0, "an integer >= 0")
number = _bounded(float, lambda v: True, "a number")
fraction = _bounded(float, lambda v: 0 < v <= 1, "a number in (0, 1]")

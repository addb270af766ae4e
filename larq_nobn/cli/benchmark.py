"""`larq-nobn benchmark`: time a converted model with LCE's interpreter on this host."""

from larq_nobn import deploy



def add_parser(subparsers):
    return deploy.add_benchmark_parser(subparsers)


def run(args) -> int:
    return deploy.run_benchmark(args)

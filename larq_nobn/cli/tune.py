"""`larq-nobn tune`: hyperparameter search with keras-tuner."""

from larq_nobn import tuning



def add_parser(subparsers):
    return tuning.add_tune_parser(subparsers)


def run(args) -> int:
    return tuning.run_tune(args)

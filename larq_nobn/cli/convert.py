"""`larq-nobn convert`: convert a Keras model to TFLite with LCE, report and verify."""

from larq_nobn import deploy



def add_parser(subparsers):
    return deploy.add_convert_parser(subparsers)


def run(args) -> int:
    return deploy.run_convert(args)

"""PLACEHOLDER: replaced by the stage's real command module."""


def add_parser(sub):
    pass


def run(args):
    raise NotImplementedError

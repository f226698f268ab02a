"""Placeholder while this command is being written (replaced before the issue is closed)."""


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotImplementedError

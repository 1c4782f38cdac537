"""The error of an input file that cannot be used: it names the file, the line and the problem."""

from __future__ import annotations


class FileLineError(ValueError):
    """A problem at a line of an input file (line 0: the file as a whole)."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}, line {line}: {problem}" if line else f"{source}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem

"""pytest set-up for the whole repository: nbval compares printed numbers at their precision.

See ``tests/nbval_numbers.py`` for the rules (words and integers exact, a decimal number within one unit
of its last printed digit unless its cell declares a tolerance with its reason).
"""
from tests.nbval_numbers import install

install()

"""nbval compares what a page claims at the precision the claim has.

Plain nbval compares a cell's stored text with the new text character by character. That is right for
words, verdicts and exact integers, and wrong for a measured floating-point number: another CPU (AVX-512
instead of AVX2, ARM's NEON, another MKL code path) rounds differently, and the last printed digit of
``0.0385`` may come out as ``0.0386``. This plugin keeps nbval's comparison and changes only how two
printed numbers are compared:

- The **words** around the numbers must be identical (a run of spaces counts as one space, since a
  column padded to a number's width moves with the number): a changed verdict ("B = 64 lower" → "no
  difference detected") or a changed label fails.
- An **integer** (no decimal point, no exponent: iterations per epoch, shapes, byte counts, seeds)
  must be identical.
- A **decimal number** may differ by one unit of its last printed digit (``0.0385`` vs ``0.0386``,
  ``2.46e+06`` vs ``2.47e+06``): a rounding flip. Nothing more, unless the cell says so.
- A cell that prints a measured quantity whose value moves more than that from CPU to CPU declares its
  tolerance in its metadata, with the reason, e.g.::

      "nbval-tolerance": {"rel": 0.05, "why": "mean test accuracy of 5 seeds; seeds differ by 3 %"}

  ``rel`` (relative, of the larger magnitude) and ``abs`` widen the allowance of its decimal numbers;
  ``"integers": true`` applies ``rel`` and ``abs`` (but no last-digit unit) to integers too (a measured
  step count, a noise scale rounded to a whole number); small counts then stay exact. The words stay exact.
  A cell that prints quantities of different kinds gives a line its own tolerance, chosen by a piece of
  text the line contains: ``"lines": {"training loss": {"rel": 0.05}}``.

A cell with a declared tolerance can still fail: a verdict that flips, a number off by more than its
tolerance, one number more or less, or an error. ``tests/test_nbval_numbers.py`` checks this file, and
that every declared tolerance gives its reason.

>>> compare_text("loss 0.0385 after 16 iterations", "loss 0.0386 after 16 iterations") is None
True
>>> compare_text("loss 0.0385 after 16 iterations", "loss 0.0385 after 17 iterations")
'number 2: 16 became 17 (integers must be equal)'
>>> compare_text("mean 59.3%", "mean 60.1%", Tolerance(abs=1.0)) is None
True
>>> compare_text("B = 64 lower", "no difference", Tolerance(rel=1.0))
"the words differ: 'B = ' became 'no difference'"
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A number standing on its own: not part of a name (layer1), of a version (2.13.0) or of a hash.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w|\.\w)")
# Runs of spaces count as one: a column padded to a number's width ("{:>9}") moves with the number.
SPACES = re.compile(r" +")
METADATA_KEY = "nbval-tolerance"


@dataclass(frozen=True)
class Tolerance:
    """How far a printed decimal number may move: one unit of its last digit, plus ``rel`` and ``abs``.

    ``lines`` gives the lines that contain a piece of text their own tolerance.
    """

    rel: float = 0.0
    abs: float = 0.0
    integers: bool = False
    lines: tuple[tuple[str, "Tolerance"], ...] = ()

    @classmethod
    def from_spec(cls, spec: dict, top: bool = True) -> "Tolerance":
        """Read ``{"rel": ..., "abs": ..., "integers": ..., "why": ..., "lines": {...}}``."""
        allowed = {"rel", "abs", "integers"} | ({"why", "lines"} if top else set())
        unknown = set(spec) - allowed
        if unknown or (top and not str(spec.get("why", "")).strip()):
            raise ValueError(f"{METADATA_KEY} must give 'why' and only rel/abs/integers/lines; got {spec!r}")
        lines = tuple((text, cls.from_spec(sub, top=False)) for text, sub in spec.get("lines", {}).items())
        return cls(rel=float(spec.get("rel", 0.0)), abs=float(spec.get("abs", 0.0)),
                   integers=bool(spec.get("integers", False)), lines=lines)

    @classmethod
    def from_metadata(cls, metadata: dict) -> "Tolerance":
        """Read a cell's ``nbval-tolerance`` metadata (no key: the strict default)."""
        spec = metadata.get(METADATA_KEY)
        return cls() if spec is None else cls.from_spec(spec)

    def for_line(self, line: str) -> "Tolerance":
        """The tolerance for one printed line: the first ``lines`` entry whose text it contains, else this one."""
        return next((tolerance for text, tolerance in self.lines if text in line), self)


def last_digit_unit(token: str) -> float:
    """The value of one unit in the last printed digit: ``'0.0385'`` → 1e-4, ``'2.46e+06'`` → 1e4.

    >>> last_digit_unit("0.0385"), last_digit_unit("2.46e+06"), last_digit_unit("290")
    (0.0001, 10000.0, 1.0)
    """
    mantissa, _, exponent = token.lower().lstrip("+-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return float(f"1e{int(exponent or 0) - decimals}")


def is_integer(token: str) -> bool:
    """An integer as printed: no decimal point and no exponent."""
    return "." not in token and "e" not in token.lower()


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """The words between the numbers, and the numbers, as printed.

    >>> split_numbers("B = 64: loss 0.25, layer1")
    (['B = ', ': loss ', ', layer1'], ['64', '0.25'])
    """
    return NUMBER.split(text), NUMBER.findall(text)


def numbers_agree(reference: str, test: str, tolerance: Tolerance = Tolerance()) -> bool:
    """Whether two printed numbers agree under ``tolerance`` (see the module's rules)."""
    if is_integer(reference) and is_integer(test) and not tolerance.integers:
        return int(reference) == int(test)
    a, b = float(reference), float(test)
    if not (math.isfinite(a) and math.isfinite(b)):
        return reference == test
    # integers (when the cell names them) get no last-digit allowance: 0, 1, 3, 10 epochs stay exact
    unit = 0.0 if is_integer(reference) and is_integer(test) else max(last_digit_unit(reference), last_digit_unit(test))
    allowed = unit * (1 + 1e-9) + tolerance.rel * max(abs(a), abs(b)) + tolerance.abs
    return abs(a - b) <= allowed


def compare_text(reference: str, test: str, tolerance: Tolerance = Tolerance()) -> str | None:
    """``None`` if ``test`` says what ``reference`` says at the precision printed, else the first difference."""
    if reference == test:
        return None
    if tolerance.lines:
        ref_lines, test_lines = reference.split("\n"), test.split("\n")
        if len(ref_lines) != len(test_lines):
            return f"{len(ref_lines)} lines became {len(test_lines)}"
        for k, (ref_line, test_line) in enumerate(zip(ref_lines, test_lines), start=1):
            problem = compare_line(ref_line, test_line, tolerance.for_line(ref_line))
            if problem:
                return f"line {k}: {problem}"
        return None
    return compare_line(reference, test, tolerance)


def compare_line(reference: str, test: str, tolerance: Tolerance) -> str | None:
    """``compare_text`` for one piece of text under one tolerance."""
    if reference == test:
        return None
    ref_words, ref_numbers = split_numbers(reference)
    test_words, test_numbers = split_numbers(test)
    for ref_word, test_word in zip(ref_words, test_words):
        if SPACES.sub(" ", ref_word) != SPACES.sub(" ", test_word):
            return f"the words differ: {ref_word[:80]!r} became {test_word[:80]!r}"
    if len(ref_numbers) != len(test_numbers):
        return f"{len(ref_numbers)} numbers became {len(test_numbers)}"
    for k, (ref_number, test_number) in enumerate(zip(ref_numbers, test_numbers), start=1):
        if not numbers_agree(ref_number, test_number, tolerance):
            kind = ("integers must be equal" if is_integer(ref_number) and is_integer(test_number)
                    and not tolerance.integers else f"allowed: last digit, rel {tolerance.rel:g}, abs {tolerance.abs:g}")
            return f"number {k}: {ref_number} became {test_number} ({kind})"
    return None


def install() -> None:
    """Make nbval's cells compare their outputs with ``compare_text`` (called from the root conftest)."""
    from nbval.plugin import IPyNbCell, transform_streams_for_comparison

    def compare_outputs(self, test, ref, skip_compare=None):
        skip_compare = skip_compare or self.parent.skip_compare
        tolerance = Tolerance.from_metadata(self.cell.metadata)

        def flatten(outputs):
            flat = {}
            for output in transform_streams_for_comparison(outputs):
                for key, value in output.items():
                    if key in skip_compare:
                        continue
                    items = value.items() if key == "data" else [(key, value)]
                    for name, item in items:
                        if name not in skip_compare:
                            flat.setdefault(name, []).append(self.sanitize(item))
            return flat

        reference, testing = flatten(ref), flatten(test)
        self.comparison_traceback = []
        if set(reference) != set(testing):
            self.comparison_traceback.append(
                f"output kinds differ: stored {sorted(reference)}, now {sorted(testing)}")
            return False
        for key, ref_values in reference.items():
            test_values = testing[key]
            if len(ref_values) != len(test_values):
                self.comparison_traceback.append(f"{key}: {len(ref_values)} outputs stored, {len(test_values)} now")
                return False
            for ref_value, test_value in zip(ref_values, test_values):
                if isinstance(ref_value, str) and isinstance(test_value, str):
                    problem = compare_text(ref_value, test_value, tolerance)
                else:
                    problem = None if ref_value == test_value else "values differ"
                if problem:
                    self.comparison_traceback += [
                        f"mismatch {key!r}: {problem}", "stored:", str(ref_value), "now:", str(test_value)]
                    return False
        return True

    IPyNbCell.compare_outputs = compare_outputs

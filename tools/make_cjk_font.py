#!/usr/bin/env python3
"""Make the CJK font that ships with the slide decks: Noto Sans CJK SC cut down to the glyphs they use.

    python tools/make_cjk_font.py                  # rewrite tools/fonts/course-cjk.woff2 and its glyph list
    python tools/make_cjk_font.py --check          # exit 1 if a deck uses a CJK character the font lacks
    python tools/make_cjk_font.py --source FILE    # another copy of NotoSansCJK-Regular.ttc (or an .otf)

Most Linux laptops and many lecture-hall PCs have no CJK font: there every Chinese term on a slide would
be an empty box. So the decks carry their own font (tools/build_slides.py copies `tools/fonts/` next to
them and names it in an `@font-face` with a `unicode-range`, first in the font stacks for those
characters). A whole CJK font is 16 MB; the decks use a few hundred characters, so the shipped file holds
only those: every character in CHARS_RANGES that occurs in a notebook or a quiz (the decks are built from
them), plus PUNCTUATION and the seed pages' characters (EXTRA, tools/fonts/extra-chars.txt). It is about
300 KB of WOFF2.

The source is Debian's `fonts-noto-cjk` (SIL Open Font License 1.1, see tools/fonts/OFL.txt), face 2 of
`NotoSansCJK-Regular.ttc` ("Noto Sans CJK SC"). Without installing it system-wide (which would hide a
missing glyph from the deck check), get it with

    apt-get download fonts-noto-cjk && dpkg -x fonts-noto-cjk_*.deb noto
    python tools/make_cjk_font.py --source noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

Making the font needs fontTools and brotli (`pip install fonttools brotli`; not needed to build or test
the decks). `tools/fonts/course-cjk.txt` lists the characters in the font; tests/test_slides.py fails when
a notebook or quiz uses a CJK character that is not in it, and in Chromium checks that the font loads.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FONTS = ROOT / "tools" / "fonts"
FONT = FONTS / "course-cjk.woff2"
GLYPHS = FONTS / "course-cjk.txt"
FAMILY = "Course CJK"  # the name the decks' CSS gives the shipped font
DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_FACE = 2  # NotoSansCJK-Regular.ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK

# The blocks whose characters a Latin font does not have: CJK punctuation, kana, ideographs, compatibility
# ideographs, vertical and small forms, full-width forms. The @font-face's unicode-range is the same.
CHARS_RANGES = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
# Always in the font, so that a new sentence with ordinary Chinese punctuation needs no new font.
PUNCTUATION = "，。、；：？！（）《》「」【】～"
# Also always in the font: every other CJK character of the seed pages (the five Chinese articles whose
# confusions the course answers, not shipped), so that quoting a seed on a slide needs no new font.
EXTRA = FONTS / "extra-chars.txt"


def is_cjk(char: str) -> bool:
    """Whether the shipped font is the one that draws ``char`` on a slide.

    >>> is_cjk("批"), is_cjk("，"), is_cjk("B"), is_cjk("—")
    (True, True, False, False)
    """
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"char must be one character, got {char!r}")
    return any(low <= ord(char) <= high for low, high in CHARS_RANGES)


def unicode_range() -> str:
    """The CSS `unicode-range` of the shipped font.

    >>> unicode_range()
    'U+2E80-9FFF, U+F900-FAFF, U+FE30-FE4F, U+FF00-FFEF'
    """
    return ", ".join(f"U+{low:X}-{high:X}" for low, high in CHARS_RANGES)


def sources() -> list[Path]:
    """The files the decks are built from: every notebook and every quiz."""
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "quizzes").glob("*.json"))


def used_chars(paths: list[Path] | None = None) -> set[str]:
    """The CJK characters in ``paths`` (default: every notebook and quiz), read as UTF-8 text.

    JSON may escape a character (``\\u6279``); such escapes are decoded first."""
    chars: set[str] = set()
    for path in paths if paths is not None else sources():
        text = Path(path).read_text(encoding="utf-8")
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        chars |= {c for c in text if is_cjk(c)}
    return chars


def shipped_chars() -> set[str]:
    """The characters listed in tools/fonts/course-cjk.txt (what the shipped font holds)."""
    if not GLYPHS.is_file():
        return set()
    return {c for c in GLYPHS.read_text(encoding="utf-8") if not c.isspace()}


def missing_chars(paths: list[Path] | None = None) -> set[str]:
    """CJK characters the decks use that the shipped font lacks (empty when the font is up to date)."""
    return used_chars(paths) - shipped_chars()


def glyph_list_text(chars: set[str]) -> str:
    """The glyph list file: the characters sorted, 40 to a line.

    >>> glyph_list_text({"批", "次", "，"})
    '批次，\\n'
    """
    ordered = "".join(sorted(chars))
    return "\n".join(ordered[i:i + 40] for i in range(0, len(ordered), 40)) + "\n"


def make_font(source: Path, chars: set[str]) -> None:
    """Subset face SC_FACE of ``source`` to ``chars`` and write FONT (WOFF2) and GLYPHS."""
    if not source.is_file():
        raise SystemExit(f"source font {source} not found; see `python tools/make_cjk_font.py --help`")
    FONTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text_file = Path(tmp) / "chars.txt"
        text_file.write_text("".join(sorted(chars)), encoding="utf-8")
        command = [sys.executable, "-m", "fontTools.subset", str(source), f"--text-file={text_file}",
                   "--flavor=woff2", f"--output-file={FONT}", "--layout-features=*", "--no-hinting",
                   "--desubroutinize", "--name-IDs=*", "--name-languages=*", "--notdef-outline"]
        if source.suffix.lower() == ".ttc":
            command.append(f"--font-number={SC_FACE}")
        subprocess.run(command, check=True)
    GLYPHS.write_text(glyph_list_text(chars), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a deck uses a character the font lacks")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="NotoSansCJK-Regular.ttc")
    args = parser.parse_args(argv)
    if args.check:
        missing = missing_chars()
        if missing:
            print(f"{FONT.relative_to(ROOT)} lacks {len(missing)} character(s) the decks use: "
                  f"{''.join(sorted(missing))}; run python tools/make_cjk_font.py")
            return 1
        print(f"{FONT.relative_to(ROOT)} has every CJK character the decks use ({len(used_chars())}).")
        return 0
    chars = used_chars() | set(PUNCTUATION) | {c for c in EXTRA.read_text(encoding="utf-8") if not c.isspace()}
    make_font(args.source, chars)
    print(f"wrote {FONT.relative_to(ROOT)} ({FONT.stat().st_size // 1024} KB, {len(chars)} characters) "
          f"and {GLYPHS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

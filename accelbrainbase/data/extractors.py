"""Extractors (`ExtractableData`): read one source file into a float32 numpy array.

An extractor knows one file format and nothing about batching; the folder and CSV iterators in
`accelbrainbase.data.iterators` call it once per file. Every failure names the file, because a corrupt
image in a folder of thousands is otherwise hard to find.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..interfaces import ExtractableData

__all__ = ["ImageExtractor", "CSVExtractor"]

_NORMALIZATIONS = ("range", "z_score", "none")


def _check_file(path: Union[str, "os.PathLike[str]"], kind: str) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{kind} file not found: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a file (expected one {kind} file)")
    return path


class ImageExtractor(ExtractableData):
    """Reads one image file (PNG, JPEG, BMP, GIF, ...) with Pillow into a ``(C, H, W)`` float32 array.

    The image is converted to grey scale (``channels=1``, Pillow mode ``"L"``) or RGB (``channels=3``)
    and resized to ``(height, width)`` with bilinear interpolation, so every file of a folder gives the
    same shape whatever its size on disk.

    Args:
        height, width: output size in pixels.
        channels: 1 (grey scale) or 3 (RGB).
        normalization: ``"range"`` divides by 255 (values in [0, 1]); ``"z_score"`` standardises each
            image to mean 0 and standard deviation 1 (a constant image becomes all zeros);
            ``"none"`` keeps the raw 0-255 values.

    Shapes:
        ``extract(path)`` returns ``(channels, height, width)``, dtype float32.

    Example:
        >>> from PIL import Image
        >>> Image.new("RGB", (16, 12), (255, 0, 0)).save("red.png")   # doctest: +SKIP
        >>> ImageExtractor(8, 8, channels=3).extract("red.png").shape   # doctest: +SKIP
        (3, 8, 8)
    """

    def __init__(self, height: int, width: int, channels: int = 1, normalization: str = "range") -> None:
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey scale) or 3 (RGB), got {channels!r}")
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        self.height = int(height)
        self.width = int(width)
        self.channels = int(channels)
        self.normalization = normalization

    def extract(self, path: Union[str, "os.PathLike[str]"]) -> np.ndarray:
        """Return the image at ``path`` as ``(channels, height, width)`` float32.

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file Pillow cannot
        decode (not an image, truncated, corrupt); both name ``path``.
        """
        path = _check_file(path, "image")
        # Some libraries (gluoncv's data package, imported with its model zoo) switch Pillow to
        # silently padding truncated files for the whole process: refuse them here regardless.
        tolerant = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with Image.open(path) as img:
                # Image.open only reads the header; convert() decodes the pixels, so a truncated or
                # corrupt file fails inside this try block and not later.
                img = img.convert("L" if self.channels == 1 else "RGB")
                if img.size != (self.width, self.height):
                    img = img.resize((self.width, self.height), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"cannot read image file {path}: {e}") from e
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = tolerant

        arr = arr[np.newaxis] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # HWC -> CHW
        if self.normalization == "range":
            arr = arr / np.float32(255.0)
        elif self.normalization == "z_score":
            std = arr.std()
            arr = (arr - arr.mean()) / std if std > 0 else np.zeros_like(arr)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-able dict: ``ImageExtractor(**e.get_config())`` rebuilds it."""
        return {
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "normalization": self.normalization,
        }


class CSVExtractor(ExtractableData):
    """Reads a numeric CSV file into a 2-D ``(rows, columns)`` float32 array.

    Blank lines are ignored. A cell that is not a number (other than a skipped header) is an error
    that names the file, the line and the cell.

    Args:
        delimiter: the cell separator; ``None`` splits on any whitespace.
        skip_header: number of leading lines to skip, or ``"auto"``: skip the first non-blank line
            when one of its cells is not a number (a header row), otherwise skip nothing.
        index_col: a column to drop because it numbers the rows (0-based; negative counts from the
            end), ``None`` to keep every column, or ``"auto"``: drop the first column when it is
            pandas' ``to_csv`` index (an empty first header cell over the row numbers 0, 1, 2...).
        usecols: keep only these columns (0-based, of the file, after nothing is dropped).

    Shapes:
        ``extract(path)`` returns ``(rows, columns)``, dtype float32 (a one-column file gives
        ``(rows, 1)``).

    Example:
        >>> open("t.csv", "w").write("a,b\\n1,2\\n3,4\\n")   # doctest: +SKIP
        >>> CSVExtractor().extract("t.csv")   # doctest: +SKIP
        array([[1., 2.],
               [3., 4.]], dtype=float32)
    """

    def __init__(self, delimiter: Optional[str] = ",", skip_header: Union[str, int] = "auto",
                 index_col: Union[None, str, int] = "auto", usecols: Optional[Sequence[int]] = None) -> None:
        if index_col not in (None, "auto") and (not isinstance(index_col, (int, np.integer))
                                                 or isinstance(index_col, bool)):
            raise ValueError(f"index_col must be 'auto', None or a column number, got {index_col!r}")
        if usecols is not None and (not len(usecols) or not all(isinstance(c, (int, np.integer)) for c in usecols)):
            raise ValueError(f"usecols must be a non-empty list of column numbers, got {usecols!r}")
        self.index_col = index_col if index_col in (None, "auto") else int(index_col)
        self.usecols = None if usecols is None else [int(c) for c in usecols]
        if skip_header != "auto" and (
            not isinstance(skip_header, (int, np.integer)) or isinstance(skip_header, bool) or skip_header < 0
        ):
            raise ValueError(f"skip_header must be 'auto' or a non-negative integer, got {skip_header!r}")
        if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
            raise ValueError(f"delimiter must be a non-empty string or None, got {delimiter!r}")
        self.delimiter = delimiter
        self.skip_header = skip_header if skip_header == "auto" else int(skip_header)

    def _cells(self, line: str) -> List[str]:
        return line.split(self.delimiter)

    @staticmethod
    def _is_number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    def extract(self, path: Union[str, "os.PathLike[str]"]) -> np.ndarray:
        """Return the numeric contents of ``path`` as ``(rows, columns)`` float32.

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file, and the
        line where it applies) for an unreadable, empty, ragged or non-numeric file.
        """
        path = _check_file(path, "CSV")
        try:
            # utf-8-sig drops the byte-order mark spreadsheet programs put in front of the header.
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read CSV file {path}: {e}") from e

        # Keep 1-based file line numbers next to the data lines so errors point at the right line.
        numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
        header: Optional[List[str]] = None
        if self.skip_header == "auto":
            first = self._cells(numbered[0][1]) if numbered else []
            # A row of numbers joined by another separator is data in the wrong format, not a header.
            if first and not all(self._is_number(c) for c in first) \
                    and not any(self._delimiter_hint(c) for c in first):
                header = first
                numbered = numbered[1:]
        else:
            numbered = [(n, line) for n, line in numbered if n > int(self.skip_header)]
        if not numbered:
            raise ValueError(f"CSV file {path} has no data rows")

        try:
            data_lines = [line for _, line in numbered]
            arr = np.loadtxt(data_lines, delimiter=self.delimiter, dtype=np.float32, ndmin=2)
        except ValueError as e:
            raise ValueError(self._describe_error(path, numbered, e)) from e
        drop = self._index_column(arr, header)
        if drop is not None:
            arr = np.delete(arr, drop, axis=1)
        if self.usecols is not None:
            bad = [c for c in self.usecols if not -arr.shape[1] <= c < arr.shape[1]]
            if bad:
                raise ValueError(f"CSV file {path}: usecols {bad} out of range for its {arr.shape[1]} columns")
            arr = arr[:, self.usecols]
        return np.ascontiguousarray(arr)

    def _index_column(self, arr: np.ndarray, header: Optional[List[str]]) -> Optional[int]:
        """The column numbering the rows, to drop (see ``index_col``)."""
        if self.index_col is None:
            return None
        if self.index_col != "auto":
            index = int(self.index_col)
            if not -arr.shape[1] <= index < arr.shape[1]:
                raise ValueError(f"index_col={self.index_col} is out of range for {arr.shape[1]} columns")
            return index
        # pandas' to_csv writes its index as an unnamed first column: ",a,b" over "0,...", "1,..."
        unnamed = header is not None and header[0].strip() in ("", "Unnamed: 0")
        if unnamed and arr.shape[1] > 1 and np.array_equal(arr[:, 0], np.arange(len(arr))):
            return 0
        return None

    def _describe_error(self, path: str, numbered: List[tuple], error: Exception) -> str:
        # Only runs when parsing failed: a plain Python scan finds the first offending line.
        n_cols = len(self._cells(numbered[0][1]))
        for line_no, line in numbered:
            cells = self._cells(line)
            if len(cells) != n_cols:
                return (
                    f"CSV file {path}, line {line_no}: {len(cells)} cells, but the first data row "
                    f"has {n_cols}"
                )
            for col, cell in enumerate(cells):
                if not self._is_number(cell):
                    return (f"CSV file {path}, line {line_no}, column {col + 1}: {cell!r} is not a number"
                            + self._delimiter_hint(cell))
        return f"cannot parse CSV file {path}: {error}"

    def _delimiter_hint(self, cell: str) -> str:
        """A suggestion when a cell looks like several numbers joined by another separator."""
        for separator, name, argument in ((";", "semicolon", "';'"), ("\t", "tab", "'\\t'"),
                                          (" ", "space", "None")):
            parts = [p for p in (cell.split() if separator == " " else cell.split(separator)) if p]
            if separator != self.delimiter and len(parts) > 1 and all(self._is_number(p) for p in parts):
                return f" - the file looks {name}-delimited: use CSVExtractor(delimiter={argument})"
        return ""

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-able dict: ``CSVExtractor(**e.get_config())`` rebuilds it."""
        return {"delimiter": self.delimiter, "skip_header": self.skip_header, "index_col": self.index_col,
                "usecols": self.usecols}

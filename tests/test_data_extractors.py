"""Extractors: ImageExtractor and CSVExtractor on files the tests write."""
import json

import numpy as np
import pytest
from PIL import Image

from accelbrainbase.data import CSVExtractor, ImageExtractor
from accelbrainbase.interfaces import ExtractableData

# ---------------------------------------------------------------------------------------- ImageExtractor


@pytest.fixture
def rgb_png(tmp_path):
    pixels = np.zeros((6, 10, 3), dtype=np.uint8)  # H=6, W=10
    pixels[..., 0] = 255  # pure red
    pixels[:, :5, 2] = 51  # left half a little blue
    path = tmp_path / "img.png"
    Image.fromarray(pixels, mode="RGB").save(path)
    return path, pixels


def test_image_rgb_range_keeps_pixels_in_chw(rgb_png):
    path, pixels = rgb_png
    extractor = ImageExtractor(6, 10, channels=3)
    assert isinstance(extractor, ExtractableData)
    arr = extractor.extract(path)
    assert arr.shape == (3, 6, 10) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, pixels.transpose(2, 0, 1) / 255.0, rtol=1e-6)


def test_image_grey_resize_and_normalizations(rgb_png):
    path, _ = rgb_png
    grey = ImageExtractor(4, 3, channels=1, normalization="none").extract(str(path))
    assert grey.shape == (1, 4, 3)
    assert 0 < grey.min() <= grey.max() <= 255 and grey.max() > 1  # raw 0-255 values
    z = ImageExtractor(8, 8, normalization="z_score").extract(path)
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4


def test_image_constant_z_score_is_zero(tmp_path):
    path = tmp_path / "flat.jpg"
    Image.new("L", (5, 5), 128).save(path)
    np.testing.assert_array_equal(ImageExtractor(5, 5, normalization="z_score").extract(path), 0)


def test_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ImageExtractor(8, 8).extract(tmp_path / "nope.png")
    bad = tmp_path / "x.png"
    bad.write_bytes(b"garbage bytes, not an image")
    with pytest.raises(ValueError, match="x.png"):
        ImageExtractor(8, 8).extract(bad)
    # A real PNG cut in half: the header reads, the pixels do not.
    truncated = tmp_path / "half.png"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (64, 64), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match="half.png"):
        ImageExtractor(8, 8).extract(truncated)


def test_truncated_images_are_refused_even_when_pillow_is_told_to_pad_them(tmp_path, monkeypatch):
    # gluoncv's data package sets this flag for the whole process when it is imported.
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    truncated = tmp_path / "half.png"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (64, 64), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match="half.png"):
        ImageExtractor(8, 8).extract(truncated)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True   # the caller's setting is left as it was


def test_image_extractor_config_round_trips():
    extractor = ImageExtractor(16, 12, channels=3, normalization="z_score")
    config = json.loads(json.dumps(extractor.get_config()))
    assert ImageExtractor(**config).get_config() == config
    with pytest.raises(ValueError, match="channels"):
        ImageExtractor(8, 8, channels=2)
    with pytest.raises(ValueError, match="normalization"):
        ImageExtractor(8, 8, normalization="minmax")


# ------------------------------------------------------------------------------------------ CSVExtractor


def _write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_header_is_detected(tmp_path):
    path = _write(tmp_path, "x,y\n1,2\n\n3.5,-4e-1\n")
    arr = CSVExtractor().extract(path)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, [[1, 2], [3.5, -0.4]])
    no_header = _write(tmp_path, "1,2\n3,4\n", "n.csv")
    np.testing.assert_array_equal(CSVExtractor().extract(no_header), [[1, 2], [3, 4]])


def test_csv_explicit_skip_delimiter_and_single_column(tmp_path):
    path = _write(tmp_path, "# comment\nname\n1;2;3\n4;5;6\n")
    np.testing.assert_array_equal(CSVExtractor(";", skip_header=2).extract(path), [[1, 2, 3], [4, 5, 6]])
    column = _write(tmp_path, "1\n2\n3\n", "c.csv")
    assert CSVExtractor().extract(column).shape == (3, 1)


def test_csv_non_numeric_cell_names_file_and_line(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"t\.csv, line 3, column 2: 'oops'"):
        CSVExtractor().extract(path)
    ragged = _write(tmp_path, "1,2\n3,4,5\n", "r.csv")
    with pytest.raises(ValueError, match=r"r\.csv, line 2"):
        CSVExtractor().extract(ragged)


def test_csv_missing_or_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.csv"):
        CSVExtractor().extract(tmp_path / "gone.csv")
    with pytest.raises(ValueError, match="e.csv"):
        CSVExtractor().extract(_write(tmp_path, "a,b\n\n", "e.csv"))


def test_csv_extractor_config_round_trips():
    extractor = CSVExtractor(delimiter="\t", skip_header=1)
    config = json.loads(json.dumps(extractor.get_config()))
    assert config == {"delimiter": "\t", "skip_header": 1, "index_col": "auto", "usecols": None}
    assert CSVExtractor(**config).get_config() == config
    with pytest.raises(ValueError, match="skip_header"):
        CSVExtractor(skip_header="yes")


def test_csv_extractor_drops_a_pandas_index_and_keeps_chosen_columns(tmp_path):
    path = tmp_path / "table.csv"
    # pandas' DataFrame.to_csv default: an unnamed index column of row numbers
    path.write_text(",a,b,label\n0,0.5,1.5,1\n1,2.5,3.5,0\n2,4.5,5.5,1\n")
    np.testing.assert_array_equal(CSVExtractor().extract(str(path)), [[0.5, 1.5, 1], [2.5, 3.5, 0], [4.5, 5.5, 1]])
    assert CSVExtractor(index_col=None).extract(str(path)).shape == (3, 4)
    np.testing.assert_array_equal(CSVExtractor(usecols=[0, 2]).extract(str(path)), [[0.5, 1], [2.5, 0], [4.5, 1]])
    named = tmp_path / "named.csv"
    named.write_text("id,a\n0,7\n1,8\n")  # a named first column is data unless index_col says otherwise
    assert CSVExtractor().extract(str(named)).shape == (2, 2)
    assert CSVExtractor(index_col=0).extract(str(named)).shape == (2, 1)


@pytest.mark.parametrize("separator, advice", [(" ", "delimiter=None"), (";", "delimiter=';'"),
                                               ("\t", "delimiter='\\\\t'")])
def test_csv_extractor_suggests_the_delimiter(tmp_path, separator, advice):
    path = tmp_path / "table.csv"
    path.write_text("\n".join(separator.join(str(v) for v in row) for row in [[1, 2, 3], [4, 5, 6]]) + "\n")
    with pytest.raises(ValueError, match=f"line 1, column 1.*looks .*-delimited: use CSVExtractor\\({advice}\\)"):
        CSVExtractor().extract(str(path))

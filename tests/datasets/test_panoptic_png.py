"""The COCO panoptic PNG encoding, on hand-made arrays and the real sample."""
import numpy as np
import pytest
from PIL import Image

from m2f_mm.datasets.panoptic_png import PanopticFormatError, id2rgb, read_panoptic_png, rgb2id
from tests.evaluation.test_panoptic_quality import FIXTURE, coco, count, read_ids


def test_rgb2id_and_id2rgb():
    png = np.array([[[1, 2, 3], [0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    ids = rgb2id(png)
    assert ids.tolist() == [[1 + 2 * 256 + 3 * 65536, 0, 256 ** 3 - 1]]
    np.testing.assert_array_equal(id2rgb(ids), png)
    with pytest.raises(PanopticFormatError, match='16777216'):
        id2rgb(np.array([[256 ** 3]]))
    with pytest.raises(PanopticFormatError, match='uint8 RGB'):
        rgb2id(png.astype(np.int32))


def test_fixture_decodes_to_the_json_areas():
    """rgb2id agrees with the hand decoding, and both with the JSON's areas."""
    for ann in coco()['annotations']:
        path = FIXTURE / 'panoptic' / ann['file_name']
        ids = read_ids(path)
        np.testing.assert_array_equal(rgb2id(np.asarray(Image.open(path).convert('RGB'))), ids)
        for seg in ann['segments_info']:
            assert count(ids == seg['id']) == seg['area']


def test_read_panoptic_png_matches_hand_decoding_and_names_bad_files(tmp_path):
    ann = coco()['annotations'][0]
    path = FIXTURE / 'panoptic' / ann['file_name']
    np.testing.assert_array_equal(read_panoptic_png(str(path)), read_ids(path))
    with pytest.raises(PanopticFormatError, match='not found: .*missing.png'):
        read_panoptic_png(str(tmp_path / 'missing.png'))
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(PanopticFormatError, match='broken.png'):
        read_panoptic_png(str(tmp_path / 'broken.png'))

"""tools/dataset_converters/ade20k.py (m2f_mm.datasets.prepare.ade20k) on a fixture in
the official ADEChallengeData2016 layout."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from m2f_mm.datasets.definitions import ade20k
from m2f_mm.datasets.prepare.ade20k import ade20k_segments
from m2f_mm.utils.errors import DataError
from .helpers import instance_segments, panoptic_segments, run_converter
from .official_layouts import write_ade20k


def test_converts_stuff_instances_and_void(tmp_path):
    expected = write_ade20k(str(tmp_path))
    proc = run_converter('ade20k', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for split, folder in (('train', 'training'), ('val', 'validation')):
        got = panoptic_segments(str(tmp_path / f'ade20k_panoptic_{split}.json'),
                                str(tmp_path / f'ade20k_panoptic_{split}'))
        assert got == expected[folder]
        # The instance file holds the things only.
        assert instance_segments(str(tmp_path / f'ade20k_instance_{split}.json')) == [
            [s for s in image if ade20k.IS_THING[s[0] - 1]] for image in expected[folder]]
    data = json.loads((tmp_path / 'ade20k_panoptic_val.json').read_text())
    assert [c['isthing'] for c in data['categories']] == [1] * 100 + [0] * 50
    assert [c['name'] for c in data['categories'][:2]] == ['bed', 'windowpane']
    assert data['images'][0]['file_name'] == 'ADE_valid_00000001.jpg'
    # The chair region (semantic only, no instance) is void in the panoptic PNG.
    png = np.asarray(Image.open(tmp_path / 'ade20k_panoptic_val' / 'ADE_valid_00000001.png'))
    assert not png[2:10, 80:90].any()


def test_an_instance_with_two_categories_is_refused():
    semantic = np.full((4, 4), 3, np.uint8)
    instance = np.zeros((4, 4, 3), np.uint8)
    instance[:2, :, 1] = 1
    instance[0, :, 0], instance[1, :, 0] = 1, 2
    with pytest.raises(DataError, match=r'x\.png: instance 1 has instance categories \[1, 2\]'):
        ade20k_segments(semantic, instance, 'x.png')


def test_a_missing_annotation_is_one_line_naming_it(tmp_path):
    write_ade20k(str(tmp_path), dict(validation=1))
    missing = tmp_path / 'annotations_instance' / 'validation' / 'ADE_valid_00000001.png'
    missing.unlink()
    proc = run_converter('ade20k', str(tmp_path), '--splits', 'val')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f'ade20k.py: error: {missing}: annotation missing']
    assert not osp.exists(tmp_path / 'ade20k_panoptic_val.json')

"""tools/dataset_converters/cityscapes.py (m2f_mm.datasets.prepare.cityscapes) on a
fixture in the official Cityscapes layout."""
import json

import numpy as np
import pytest

from m2f_mm.datasets.definitions import cityscapes
from m2f_mm.datasets.prepare.cityscapes import cityscapes_segments, official_labels
from m2f_mm.utils.errors import DataError
from .helpers import instance_segments, panoptic_segments, run_converter
from .official_layouts import write_cityscapes

pytest.importorskip('cityscapesscripts')


def test_our_class_table_is_cityscapesscripts():
    labels = official_labels()
    evaluated = sorted((l for l in labels.values() if not l.ignoreInEval),
                       key=lambda label: label.trainId)
    assert [l.name for l in evaluated] == list(cityscapes.CLASSES)
    assert [l.id for l in evaluated] == list(cityscapes.LABEL_IDS)
    assert [l.hasInstances for l in evaluated] == list(cityscapes.IS_THING)
    assert [tuple(l.color) for l in evaluated] == [tuple(p) for p in cityscapes.PALETTE]


def test_converts_instances_crowds_and_ignored_labels(tmp_path):
    expected = write_cityscapes(str(tmp_path))
    proc = run_converter('cityscapes', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for split in ('train', 'val'):
        annotations = tmp_path / 'annotations'
        got = panoptic_segments(str(annotations / f'cityscapes_panoptic_{split}.json'),
                                str(annotations / f'cityscapes_panoptic_{split}'))
        assert got == expected[split]
        things = [[s for s in image if s[0] >= 24] for image in expected[split]]
        assert instance_segments(
            str(annotations / f'instancesonly_filtered_gtFine_{split}.json')) == things
    data = json.loads((tmp_path / 'annotations' / 'cityscapes_panoptic_val.json').read_text())
    assert [c['id'] for c in data['categories']] == [24, 25, 26, 27, 28, 31, 32, 33, 7, 8, 11,
                                                     12, 13, 17, 19, 20, 21, 22, 23]
    # Images are named relative to leftImg8bit/{split}/, in their city folders.
    assert data['images'][1]['file_name'] == 'bonn/bonn_000001_000019_leftImg8bit.png'


def test_an_instance_on_a_label_without_instances_is_refused():
    with pytest.raises(DataError, match=r"x\.png: value 7001 gives an instance to 'road'"):
        cityscapes_segments(np.full((2, 2), 7001), official_labels(), 'x.png')

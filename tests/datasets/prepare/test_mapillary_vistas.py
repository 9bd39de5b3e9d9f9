"""tools/dataset_converters/mapillary_vistas.py (m2f_mm.datasets.prepare.mapillary_vistas)
on a fixture in the official Mapillary Vistas v1.2 layout."""
import json

from .helpers import panoptic_segments, run_converter
from .official_layouts import write_mapillary_vistas


def test_rewrites_the_panoptic_json_things_first_with_integer_ids(tmp_path):
    expected = write_mapillary_vistas(str(tmp_path))
    proc = run_converter('mapillary_vistas', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for split in ('training', 'validation'):
        converted = tmp_path / split / 'v1.2' / 'panoptic_2018_m2f_mm.json'
        assert panoptic_segments(str(converted), str(tmp_path / split / 'v1.2' / 'panoptic')) \
            == expected[split]
        data = json.loads(converted.read_text())
        assert [image['id'] for image in data['images']] == [1, 2]
        assert [a['image_id'] for a in data['annotations']] == [1, 2]
        assert [c['isthing'] for c in data['categories']] == [1] * 37 + [0] * 28
        assert data['categories'][0]['name'] == 'Bird' and data['categories'][37]['id'] == 3


def test_another_version_or_a_missing_png_is_one_line(tmp_path):
    write_mapillary_vistas(str(tmp_path), dict(validation=1))
    source = tmp_path / 'validation' / 'v1.2' / 'panoptic' / 'panoptic_2018.json'
    data = json.loads(source.read_text())
    png = tmp_path / 'validation' / 'v1.2' / 'panoptic' / data['annotations'][0]['file_name']
    png.unlink()
    proc = run_converter('mapillary_vistas', str(tmp_path), '--splits', 'validation')
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(f'PNG not found: {png}')
    assert len(proc.stderr.strip().splitlines()) == 1

    data['categories'] += [dict(id=66, name='Extra', isthing=0)]
    source.write_text(json.dumps(data))
    proc = run_converter('mapillary_vistas', str(tmp_path), '--splits', 'validation')
    assert proc.returncode == 1 and 'v2.0 has 124' in proc.stderr

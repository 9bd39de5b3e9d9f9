"""CocoPanopticPQMetric on the real COCO sample, fed mmdet-style panoptic predictions."""
import json

import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope

from m2f_mm.datasets.panoptic_png import PanopticFormatError
from m2f_mm.evaluation import panoptic_metric, pq_average, pq_stat_single
from m2f_mm.evaluation.panoptic_metric import CocoPanopticPQMetric
from tests.evaluation.test_panoptic_quality import FIXTURE, IMG, PERSON, coco, image, isthing, persons, read_ids


ANN_FILE = str(FIXTURE / 'panoptic_annotations.json')
SEG_PREFIX = str(FIXTURE / 'panoptic')
KEYS = ['PQ', 'SQ', 'RQ', 'PQ_th', 'SQ_th', 'RQ_th', 'PQ_st', 'SQ_st', 'RQ_st']


def dataset_meta() -> dict:
    categories = coco()['categories']
    return dict(classes=tuple(c['name'] for c in categories),
                thing_classes=tuple(c['name'] for c in categories if c['isthing']),
                stuff_classes=tuple(c['name'] for c in categories if not c['isthing']))


def prediction(img_id: int, dropped=()) -> dict:
    """An mmdet-style data sample predicting the ground truth, minus ``dropped`` segment ids.

    Things get ``label + k * INSTANCE_OFFSET``, stuff ``label``, VOID the label
    ``len(classes)``, with labels numbered in the annotation file's order.
    """
    ids, segments = image(img_id)
    label = {c['id']: i for i, c in enumerate(coco()['categories'])}
    pan = torch.full(ids.shape, len(label), dtype=torch.int64)
    for k, seg in enumerate(segments, 1):
        if seg['id'] not in dropped:
            code = label[seg['category_id']]
            pan[torch.from_numpy(ids == seg['id'])] = (
                code + k * INSTANCE_OFFSET if isthing()[seg['category_id']] else code)
    return dict(img_id=img_id, img_path=f'images/{img_id:012d}.jpg', ori_shape=ids.shape,
                pred_panoptic_seg=dict(sem_seg=pan[None]))


def table_rows(message: str) -> list:
    """The cells of a logged ASCII table, row by row."""
    return [[cell.strip() for cell in line.strip('|').split('|')]
            for line in message.splitlines() if line.startswith('|')]


def evaluate(metric, samples) -> dict:
    metric.dataset_meta = dataset_meta()
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_ground_truth_predictions_score_100_through_a_config():
    with DefaultScope.overwrite_default_scope('mmdet'):
        evaluator = Evaluator(dict(type='m2f_mm.CocoPanopticPQMetric', ann_file=ANN_FILE,
                                   seg_prefix=SEG_PREFIX))
    assert type(evaluator.metrics[0]) is CocoPanopticPQMetric
    evaluator.dataset_meta = dataset_meta()
    evaluator.process([prediction(a['image_id']) for a in coco()['annotations']])
    assert evaluator.evaluate(2) == pytest.approx({f'coco_panoptic/{k}': 100 for k in KEYS})


def test_dropped_person_gives_the_hand_computed_value(monkeypatch):
    logged = []
    monkeypatch.setattr(panoptic_metric, 'print_log', lambda msg, logger: logged.append(msg))
    n = len(persons(image()[1]))
    metric = CocoPanopticPQMetric(ANN_FILE, SEG_PREFIX, classwise=True, prefix='pan')
    result = evaluate(metric, [prediction(IMG, dropped={persons(image()[1])[0]['id']})])

    # As in test_panoptic_quality: person n - 1 TP and 1 FN; 4 other categories perfect.
    person_pq = (n - 1) / ((n - 1) + 0.5 * 1)
    assert result == pytest.approx({
        'pan/PQ': 100 * (person_pq + 4) / 5, 'pan/SQ': 100, 'pan/RQ': 100 * (person_pq + 4) / 5,
        'pan/PQ_th': 100 * (person_pq + 1) / 2, 'pan/SQ_th': 100,
        'pan/RQ_th': 100 * (person_pq + 1) / 2, 'pan/PQ_st': 100, 'pan/SQ_st': 100,
        'pan/RQ_st': 100})
    summary, per_class = (table_rows(message) for message in logged)
    assert ['Things', '98.000', '100.000', '98.000', '2'] in summary
    assert ['person', '96.000', '100.000', '96.000', str(n - 1), '0', '1'] in per_class


def test_written_predictions_round_trip(tmp_path):
    prefix = tmp_path / 'preds'
    metric = CocoPanopticPQMetric(ANN_FILE, SEG_PREFIX, outfile_prefix=str(prefix))
    samples = [prediction(IMG, dropped={persons(image()[1])[0]['id']}),
               prediction(439180, dropped={2330219, 3937500})]  # tree and a person
    result = evaluate(metric, samples)

    with open(f'{prefix}.panoptic.json') as f:
        written = json.load(f)['annotations']
    assert [a['file_name'] for a in written] == ['000000142238.png', '000000439180.png']
    total = None
    for pred in written:
        pred_ids = read_ids(prefix.parent / 'preds.panoptic' / pred['file_name'])
        for seg in pred['segments_info']:
            assert seg['area'] == np.count_nonzero(pred_ids == seg['id'])
        gt_ids, gt_segments = image(pred['image_id'])
        stat = pq_stat_single(gt_ids, gt_segments, pred_ids, pred['segments_info'])
        total = stat if total is None else total + stat
        # COCO category ids, not contiguous labels: people are category 1.
        people = [s for s in pred['segments_info'] if s['category_id'] == PERSON]
        assert len(people) == len([s for s in gt_segments if s['category_id'] == PERSON]) - 1
    again = pq_average(total, isthing())
    assert result == pytest.approx({
        f'coco_panoptic/{key.upper()}{suffix}': again[group][key]
        for group, suffix in [('All', ''), ('Things', '_th'), ('Stuff', '_st')]
        for key in ('pq', 'sq', 'rq')})
    assert result['coco_panoptic/PQ'] < 100


def test_format_only_writes_without_ground_truth(tmp_path):
    # An image-info file, as for test-dev: images and categories, no annotations.
    info_file = tmp_path / 'image_info.json'
    info_file.write_text(json.dumps({k: coco()[k] for k in ('images', 'categories')}))
    prefix = tmp_path / 'test'
    metric = CocoPanopticPQMetric(str(info_file), format_only=True, outfile_prefix=str(prefix))
    assert evaluate(metric, [prediction(IMG)]) == {}
    with open(f'{prefix}.panoptic.json') as f:
        (written,) = json.load(f)['annotations']
    assert written['image_id'] == IMG
    assert len(written['segments_info']) == len(image()[1])
    assert read_ids(tmp_path / 'test.panoptic' / '000000142238.png').max() == len(image()[1])


def test_bad_arguments_and_inputs(tmp_path):
    with pytest.raises(ValueError, match='needs outfile_prefix'):
        CocoPanopticPQMetric(ANN_FILE, format_only=True)
    with pytest.raises(ValueError, match='seg_prefix'):
        CocoPanopticPQMetric(ANN_FILE)
    no_categories = tmp_path / 'bad.json'
    no_categories.write_text('{"annotations": []}')
    with pytest.raises(PanopticFormatError, match='bad.json: no "categories"'):
        CocoPanopticPQMetric(str(no_categories), SEG_PREFIX)

    metric = CocoPanopticPQMetric(ANN_FILE, SEG_PREFIX)
    with pytest.raises(ValueError, match=r"dataset_meta\['classes'\]"):
        metric.process({}, [prediction(IMG)])
    metric.dataset_meta = dict(classes=('person', 'unicorn'))
    with pytest.raises(PanopticFormatError,
                       match=r"panoptic_annotations.json: no category named \['unicorn'\]"):
        metric.process({}, [prediction(IMG)])

    metric.dataset_meta = dataset_meta()
    unknown_image = dict(prediction(IMG), img_id=7)
    with pytest.raises(PanopticFormatError,
                       match='panoptic_annotations.json: no annotation for image id 7'):
        metric.process({}, [unknown_image])
    bad_label = prediction(IMG)
    bad_label['pred_panoptic_seg']['sem_seg'][0, 0, 0] = 140
    with pytest.raises(PanopticFormatError, match='image 142238 .* predicted label 140'):
        metric.process({}, [bad_label])
    cropped = prediction(IMG)
    cropped['pred_panoptic_seg']['sem_seg'] = cropped['pred_panoptic_seg']['sem_seg'][:, :400]
    with pytest.raises(PanopticFormatError, match=r'000000142238.png: .*\(400, 640\)'):
        metric.process({}, [cropped])

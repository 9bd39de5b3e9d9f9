# The paper's other datasets (ADE20K and Cityscapes panoptic and instance, Mapillary Vistas
# v1.2 panoptic and semantic): data, evaluation and schedules, to assign over a COCO (mmdet)
# or ADE20K semantic (mmseg) config of the same backbone, e.g.
#     train_dataloader = _base_.ade20k_panoptic_train_dataloader
# The files are those of tools/dataset_converters/ (docs/datasets.md). The recipes are the
# reference's: scale jitter of the short side from 0.5x to 2.0x of a base size in 16 steps,
# capped long side, an absolute crop, SSD colour jitter and flip; poly learning rate (power
# 0.9) over the whole schedule. The query count comes with the backbone's COCO config: 200
# for Swin-L, 100 otherwise (the reference model zoo marks only its Swin-L rows "200
# queries", and e.g. its R50 Cityscapes panoptic yaml sets NUM_OBJECT_QUERIES: 100).


def _det_train_pipeline(base_size, max_size, crop_size):
    # mmdet scales are (long side, short side) bounds: the short side becomes s unless the
    # long side would pass max_size, as detectron2's ResizeShortestEdge.
    return [
        dict(type='LoadImageFromFile', to_float32=True),
        dict(type='m2f_mm.LoadCocoPanopticAnnotations'),
        dict(type='RandomChoiceResize', keep_ratio=True,
             scales=[(max_size, int(base_size * x * 0.1)) for x in range(5, 21)]),
        dict(type='RandomCrop', crop_size=crop_size, crop_type='absolute',
             recompute_bbox=True, allow_negative_crop=True),
        dict(type='PhotoMetricDistortion'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]


def _det_test_pipeline(test_scale, annotations):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=test_scale, keep_ratio=True),
        # Loaded after the resize: ground truth stays at the original size, like the predictions.
        annotations,
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]


def _instance_pipelines(train, test):
    # The instance files are COCO instance JSONs: mmdet's own loading, crowds as ignored.
    annotations = dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
    return ([annotations if t['type'] == 'm2f_mm.LoadCocoPanopticAnnotations' else t
             for t in train],
            [annotations if t['type'] == 'm2f_mm.LoadCocoPanopticAnnotations' else t
             for t in test])


def _dataloaders(dataset_type, data_root, train_files, test_files, train_pipeline,
                 test_pipeline):
    (train_ann, train_img, train_seg), (test_ann, test_img, test_seg) = train_files, test_files
    prefix = dict(img=train_img) if train_seg is None else dict(img=train_img, seg=train_seg)
    test_prefix = dict(img=test_img) if test_seg is None else dict(img=test_img, seg=test_seg)
    return (
        dict(batch_size=2, dataset=dict(type=dataset_type, data_root=data_root,
                                        ann_file=train_ann, data_prefix=prefix,
                                        pipeline=train_pipeline)),
        dict(batch_size=1, dataset=dict(type=dataset_type, data_root=data_root,
                                        ann_file=test_ann, data_prefix=test_prefix,
                                        pipeline=test_pipeline, test_mode=True)))


def _panoptic_evaluator(data_root, panoptic_json, panoptic_pngs, instance_json):
    # PQ, mask AP and mIoU from one panoptic model, as the paper reports them.
    metrics = [dict(type='m2f_mm.CocoPanopticPQMetric', ann_file=data_root + panoptic_json,
                    seg_prefix=data_root + panoptic_pngs)]
    if instance_json:
        metrics.append(dict(type='CocoMetric', ann_file=data_root + instance_json,
                            metric=['segm']))
    return metrics + [dict(type='m2f_mm.DetSemSegIoUMetric', iou_metrics=['mIoU'])]


def _fixed_size_pad(crop_size):
    # mmdet's COCO recipe pads every training batch to its 1024 crop; these pad to theirs.
    return dict(batch_augments=[dict(
        type='BatchFixedSizePad', size=crop_size, img_pad_value=0, pad_mask=True,
        mask_pad_value=0, pad_seg=True, seg_pad_value=255)])


def _poly_schedule(iters):
    return dict(
        train_cfg=dict(max_iters=iters),
        param_scheduler=[dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=iters,
                              by_epoch=False)])


_panoptic_annotations = dict(type='m2f_mm.LoadCocoPanopticAnnotations')

# ---- ADE20K (ADEChallengeData2016), 640 crop, 160k iterations ------------------------------
ade20k_root = 'data/ade/ADEChallengeData2016/'
ade20k_schedule = _poly_schedule(160000)
ade20k_data_preprocessor = _fixed_size_pad((640, 640))
_ade20k_train = _det_train_pipeline(640, 2560, (640, 640))
_ade20k_test = _det_test_pipeline((2560, 640), _panoptic_annotations)
ade20k_panoptic_head = dict(num_things_classes=100, num_stuff_classes=50)
ade20k_instance_head = dict(num_things_classes=100, num_stuff_classes=0)
ade20k_panoptic_train_dataloader, ade20k_panoptic_test_dataloader = _dataloaders(
    'm2f_mm.ADE20KPanopticDataset', ade20k_root,
    ('ade20k_panoptic_train.json', 'images/training/', 'ade20k_panoptic_train/'),
    ('ade20k_panoptic_val.json', 'images/validation/', 'ade20k_panoptic_val/'),
    _ade20k_train, _ade20k_test)
ade20k_panoptic_evaluator = _panoptic_evaluator(
    ade20k_root, 'ade20k_panoptic_val.json', 'ade20k_panoptic_val/', 'ade20k_instance_val.json')
ade20k_instance_train_dataloader, ade20k_instance_test_dataloader = _dataloaders(
    'm2f_mm.ADE20KInstanceDataset', ade20k_root,
    ('ade20k_instance_train.json', 'images/training/', None),
    ('ade20k_instance_val.json', 'images/validation/', None),
    *_instance_pipelines(_ade20k_train, _ade20k_test))
ade20k_instance_evaluator = [dict(type='CocoMetric', ann_file=ade20k_root
                                  + 'ade20k_instance_val.json', metric=['segm'])]

# ---- Cityscapes (gtFine), 512 x 1024 crop, 90k iterations ----------------------------------
cityscapes_root = 'data/cityscapes/'
cityscapes_schedule = _poly_schedule(90000)
cityscapes_data_preprocessor = _fixed_size_pad((512, 1024))
_cityscapes_train = _det_train_pipeline(1024, 4096, (512, 1024))
_cityscapes_test = _det_test_pipeline((2048, 1024), _panoptic_annotations)
cityscapes_panoptic_head = dict(num_things_classes=8, num_stuff_classes=11)
cityscapes_instance_head = dict(num_things_classes=8, num_stuff_classes=0)
cityscapes_panoptic_train_dataloader, cityscapes_panoptic_test_dataloader = _dataloaders(
    'm2f_mm.CityscapesPanopticDataset', cityscapes_root,
    ('annotations/cityscapes_panoptic_train.json', 'leftImg8bit/train/',
     'annotations/cityscapes_panoptic_train/'),
    ('annotations/cityscapes_panoptic_val.json', 'leftImg8bit/val/',
     'annotations/cityscapes_panoptic_val/'),
    _cityscapes_train, _cityscapes_test)
cityscapes_panoptic_evaluator = _panoptic_evaluator(
    cityscapes_root, 'annotations/cityscapes_panoptic_val.json',
    'annotations/cityscapes_panoptic_val/', 'annotations/instancesonly_filtered_gtFine_val.json')
cityscapes_instance_train_dataloader, cityscapes_instance_test_dataloader = _dataloaders(
    'm2f_mm.CityscapesInstanceDataset', cityscapes_root,
    ('annotations/instancesonly_filtered_gtFine_train.json', 'leftImg8bit/train/', None),
    ('annotations/instancesonly_filtered_gtFine_val.json', 'leftImg8bit/val/', None),
    *_instance_pipelines(_cityscapes_train, _cityscapes_test))
# COCO-style mask AP over the 8 things (IoU 0.5:0.95, COCO's area ranges), which is not
# the official Cityscapes AP; for that, use cityscapes_official_instance_evaluator (mmdet's
# CityScapesMetric, which runs cityscapesscripts' evaluation on the gtFine files; m2f_mm's
# subclass runs it under numpy >= 2.4).
cityscapes_instance_evaluator = [dict(type='CocoMetric', ann_file=cityscapes_root
                                      + 'annotations/instancesonly_filtered_gtFine_val.json',
                                      metric=['segm'])]
cityscapes_official_instance_evaluator = dict(
    type='m2f_mm.CityscapesInstanceMetric', seg_prefix=cityscapes_root + 'gtFine/val',
    outfile_prefix='./work_dirs/cityscapes_metric/instance', dump_matches=False)

# ---- Mapillary Vistas v1.2, 1024 crop, 300k iterations -------------------------------------
mapillary_root = 'data/mapillary/'
mapillary_schedule = _poly_schedule(300000)
mapillary_data_preprocessor = _fixed_size_pad((1024, 1024))
mapillary_panoptic_head = dict(num_things_classes=37, num_stuff_classes=28)
# The reference keeps every query that is not "no object" on Mapillary.
mapillary_panoptic_test_cfg = dict(object_mask_threshold=0.0)
mapillary_panoptic_train_dataloader, mapillary_panoptic_test_dataloader = _dataloaders(
    'm2f_mm.MapillaryVistasPanopticDataset', mapillary_root,
    ('training/v1.2/panoptic_2018_m2f_mm.json', 'training/images/', 'training/v1.2/panoptic/'),
    ('validation/v1.2/panoptic_2018_m2f_mm.json', 'validation/images/',
     'validation/v1.2/panoptic/'),
    _det_train_pipeline(2048, 8192, (1024, 1024)),
    _det_test_pipeline((2048, 2048), _panoptic_annotations))
mapillary_panoptic_evaluator = _panoptic_evaluator(
    mapillary_root, 'validation/v1.2/panoptic_2018_m2f_mm.json', 'validation/v1.2/panoptic/',
    None)
# Semantic (mmseg): the v1.2 label maps as they are, label 65 ignored by the dataset.
mapillary_decode_head = dict(num_classes=65)
mapillary_semantic_train_dataloader = dict(batch_size=2, dataset=dict(
    type='m2f_mm.MapillaryVistasSemanticDataset', data_root=mapillary_root,
    data_prefix=dict(img_path='training/images', seg_map_path='training/v1.2/labels'),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomChoiceResize', scales=[int(2048 * x * 0.1) for x in range(5, 21)],
             resize_type='ResizeShortestEdge', max_size=8192),
        dict(type='RandomCrop', crop_size=(1024, 1024), cat_max_ratio=1.0),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]))
mapillary_semantic_test_dataloader = dict(batch_size=1, dataset=dict(
    type='m2f_mm.MapillaryVistasSemanticDataset', data_root=mapillary_root,
    data_prefix=dict(img_path='validation/images', seg_map_path='validation/v1.2/labels'),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(2048, 2048), keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]))

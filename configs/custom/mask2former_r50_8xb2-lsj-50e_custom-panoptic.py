# Mask2Former R50 panoptic segmentation on your own COCO-panoptic-format data (PNG + JSON):
# COCO panoptic's recipe (docs/custom_dataset.md). Edit the paths and the class names below;
# the class counts follow from the names.
_base_ = ['../mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py']

# ---- edit: your data -----------------------------------------------------------------------
data_root = 'data/my_panoptic/'
train_json = 'annotations/panoptic_train.json'
train_images = 'train/'
train_pngs = 'annotations/panoptic_train/'
val_json = 'annotations/panoptic_val.json'
val_images = 'val/'
val_pngs = 'annotations/panoptic_val/'
# The category names of the JSON files, in their order there: the things (isthing: 1), then
# the stuff (isthing: 0).
thing_classes = ('person', 'car')
stuff_classes = ('sky', 'road')
# ---------------------------------------------------------------------------------------------

metainfo = dict(classes=thing_classes + stuff_classes, thing_classes=thing_classes,
                stuff_classes=stuff_classes)
model = dict(panoptic_head=dict(num_things_classes=len(thing_classes),
                                num_stuff_classes=len(stuff_classes)))
train_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=metainfo, ann_file=train_json,
    data_prefix=dict(img=train_images, seg=train_pngs)))
val_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=metainfo, ann_file=val_json,
    data_prefix=dict(img=val_images, seg=val_pngs)))
test_dataloader = val_dataloader
# PQ and the semantic mIoU; mask AP needs a COCO instance JSON (CocoMetric, ann_file=...).
val_evaluator = [
    dict(type='m2f_mm.CocoPanopticPQMetric', ann_file=data_root + val_json,
         seg_prefix=data_root + val_pngs),
    dict(type='m2f_mm.DetSemSegIoUMetric', iou_metrics=['mIoU']),
]
test_evaluator = val_evaluator
